"""Browser tests: Playwright (Python) driving Debian's Chromium against a live server
that serves a fresh, seeded database of each backend."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from backoffice import create_app
from backoffice.db import db
from backoffice.seed import seed
from tests.conftest import BACKENDS, CHROMIUM, base_config, fresh_database_url, missing_tier

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
RESULTS = Path(__file__).resolve().parents[2] / "test-results"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class LiveServer:
    def __init__(self, app: Any, credentials: dict[str, Any]) -> None:
        self.app = app
        self.credentials = credentials
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def account(self, email_prefix: str) -> dict[str, str]:
        return next(a for a in self.credentials["accounts"]
                    if a["email"].startswith(email_prefix + "@"))


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"live-{request.param}")
    url = fresh_database_url(request.param, tmp, "live")
    config = {**base_config(tmp, url), "PASSWORD_HASH_FAST": False, "JOBS_RAISE": False,
              "YOUSIGN_WEBHOOK_SECRET": "secret-e2e"}
    app = create_app(config)
    with app.app_context():
        from backoffice.seed import TARGETS

        credentials = seed(candidatures=len(TARGETS))  # one candidature per demo target
        db.commit()
    server = LiveServer(app, credentials)
    LIVE_APPS[server.url] = app
    server.thread.start()
    yield server
    server.server.shutdown()
    app.extensions["db_engine"].dispose()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Playwright's sync API keeps an event loop running in this thread while it lives:
    package scope ends it with the browser tests, so that code run by later tests may
    start its own (pyHanko's asyncio.run)."""
    if not os.path.exists(CHROMIUM):
        missing_tier(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[Any]:
    # bypass_csp: axe-core is injected as an inline script, which our CSP rightly refuses
    context = browser.new_context(base_url=live_server.url, locale="fr-FR",
                                  viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def login(page: Any, account: dict[str, str]) -> None:
    """Password, then the TOTP code (the demo accounts' keys are in their credentials);
    an account without a key enrols the key the page shows, which is kept in `account`."""
    page.goto("/connexion")
    page.get_by_label("Adresse électronique").fill(account["email"])
    page.get_by_label("Mot de passe").fill(account["password"])
    # expect_navigation: the checks below read the page the form led to, never the one
    # before it (wait_for_load_state alone may return before the navigation starts)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    if page.url.endswith("/connexion/activation"):
        account["totp_secret"] = page.locator("#totp-secret").inner_text().strip()
        page.get_by_label("Code de vérification").fill(_next_code(page, account))
        page.get_by_role("button", name="Activer").click()
        with page.expect_navigation():
            page.get_by_role("link", name="J'ai conservé mes codes, continuer").click()
    elif page.url.endswith("/connexion/code"):
        page.get_by_label("Code de vérification").fill(_next_code(page, account))
        with page.expect_navigation():
            page.get_by_role("button", name="Valider").click()


def _next_code(page: Any, account: dict[str, str]) -> str:
    """The code of the next unused 30 s step for this account on this server. Codes are
    single-use; when a login has no step left, the account's last step is moved back in
    the live server's database, as if a minute had passed (no sleeping in tests)."""
    from sqlalchemy import update

    from backoffice.auth.totp import STEP_SECONDS, current_code
    from backoffice.models import User

    origin = page.url.split("/connexion")[0]
    now = int(time.time()) // STEP_SECONDS
    key = (origin, account["email"])
    counter = max(now, _LAST_STEP.get(key, -1) + 1)
    if counter > now + 1:
        with LIVE_APPS[origin].app_context():
            db.execute(update(User).where(User.email == account["email"])
                       .values(totp_last_counter=now - 2))
            db.commit()
        counter = now
    _LAST_STEP[key] = counter
    return current_code(account["totp_secret"], at=counter * STEP_SECONDS)


_LAST_STEP: dict[tuple[str, str], int] = {}
LIVE_APPS: dict[str, Any] = {}


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list:
    """Run axe-core on the page; return the violations of the given impacts."""
    page.add_script_tag(content=AXE)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = [v for v in result["violations"] if v["impact"] in impacts]
    if found:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "axe-violations.json").write_text(json.dumps(found, indent=2))
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in found]


def screenshot(page: Any, name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def confirm(page: Any, scope: Any, name: str) -> None:
    """An irreversible action (templates/_macros/confirm.html): its button opens the
    confirmation dialog, whose button of the same name posts the form."""
    import re

    from playwright.sync_api import expect

    scope.get_by_role("button", name=name).click()
    dialog = page.get_by_role("dialog", name=re.compile(re.escape(name)))
    expect(dialog).to_be_visible()
    with page.expect_navigation():
        dialog.get_by_role("button", name=name).click()
