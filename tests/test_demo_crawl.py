"""The demo speaks French to people (issue 17, item 5): signed in as each demo account,
every page reachable from the navigation and the dossiers is fetched, and none shows a
Python repr (`{'`, `['`, True, None), a raw status, step or démarche code where a label
exists, a profile code, or an English word of a small deny-list. The e-mails and the
certificates the demo issued are read the same way."""

from __future__ import annotations

import email
import json
import re
import shutil
import subprocess
from collections import deque
from email import policy
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from sqlalchemy import select

from backoffice import create_app
from backoffice.auth.totp import current_code
from backoffice.db import db
from backoffice.models import Certificat, Fichier
from backoffice.workflow.definitions import (
    ALL_STEP_STATUSES,
    DEMARCHES,
    STEPS,
    CandidatureStatus,
)
from tests.conftest import BACKENDS, base_config, fresh_database_url, missing_tier
from tests.helpers import csrf_token

MAX_PAGES = 160  # per account: every navigation page, dossier tab and preview, not each filter
# Paths never followed: they act (sign out), or serve bytes rather than a page.
SKIP = re.compile(r"^/(deconnexion|static/|verify/.+\.pdf)|/(apercu/\d+\.png|telecharger)$"
                  r"|^/instruction/fichiers/\d+$|/entree$|/export")

# Codes that are not French words: shown raw they are a label missing.
_WORDS_TOO = {"preuves", "convention", "certificat", "soumise", "inscrite", "favorable",
              "brouillon", "emis"}
CODES = sorted({c for c in (*ALL_STEP_STATUSES, *(s.value for s in CandidatureStatus),
                            *STEPS, *DEMARCHES) if c not in _WORDS_TOO}
               | {"GEN", "GENERAL", "USAGER"})
CODE = re.compile(r"(?<![\w./@-])(" + "|".join(map(re.escape, CODES)) + r")(?![\w/@.-])")
REPR = re.compile(r"\{'|\['|(?<![\w-])(True|False|None)(?![\w-])")
ENGLISH = re.compile(r"(?<![\w{-])(matched|pending|unknown|failed|Submit|Cancel|Save|Delete|"
                     r"Loading|Search|Previous|Next|Download|Upload|step|status|"
                     r"error)(?![\w-])")


class _Page(HTMLParser):
    """The text a person reads (not scripts, styles nor attributes) and the links."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.text.append(data.strip())


def problems(text: str, *, codes: bool = True) -> list[str]:
    found = [f"repr {m.group(0)!r}" for m in REPR.finditer(text)]
    if codes:
        found += [f"code {m.group(1)!r}" for m in CODE.finditer(text)]
    found += [f"anglais {m.group(1)!r}" for m in ENGLISH.finditer(text)]
    return found


def _context(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 60):at + 60] if at >= 0 else ""


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"crawl-{request.param}")
    url = fresh_database_url(request.param, tmp, "crawl")
    app = create_app(base_config(tmp, url))
    result = app.test_cli_runner().invoke(args=["seed-demo", "--candidatures", "27"])
    assert result.exit_code == 0, result.output
    credentials = json.loads((tmp / "demo-credentials.json").read_text())
    yield app, credentials
    app.extensions["db_engine"].dispose()


def _sign_in(client, account: dict) -> None:
    response = client.post("/connexion", data={
        "email": account["email"], "password": account["password"],
        "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/connexion/code"
    response = client.post("/connexion/code", data={
        "code": current_code(account["totp_secret"]),
        "csrf_token": csrf_token(client, "/connexion/code")})
    assert response.status_code == 302, response.get_data(as_text=True)


def crawl(client, starts: list[str]) -> tuple[dict[str, list[str]], int]:
    """Breadth first over the pages reachable from `starts`: ({url: problems}, pages read)."""
    seen, queue, report, read = set(starts), deque(starts), {}, 0
    while queue and len(seen) <= MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        if response.status_code in (301, 302, 303):
            target = urlsplit(response.headers["Location"])
            location = target.path + (f"?{target.query}" if target.query else "")
            if location not in seen and not SKIP.search(target.path):
                seen.add(location)
                queue.append(location)
            continue
        assert response.status_code < 500, f"{url}: {response.status_code}"
        if response.mimetype != "text/html":
            continue
        read += 1
        page = _Page()
        page.feed(response.get_data(as_text=True))
        text = " ".join(page.text)
        # the administration lists codes on purpose, next to their labels (Code column)
        found = problems(text, codes=not url.startswith("/admin"))
        if found:
            report[url] = [f"{p} — « {_context(text, p.split(' ', 1)[1].strip(chr(39)))} »"
                           for p in found[:5]]
        for href in page.links:
            link = urldefrag(href)[0]
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            # one URL per page, whatever its filters or sort order (the tabs are pages)
            query = parts.query if parts.query.startswith("onglet=") else ""
            link = parts.path + (f"?{query}" if query else "")
            if link not in seen and not SKIP.search(parts.path):
                seen.add(link)
                queue.append(link)
    return report, read


def _support_searches(app) -> list[str]:
    """Support reaches dossiers through its search: each demo reference, and a file name."""
    from backoffice.models import Candidature

    with app.app_context():
        references = db.scalars(select(Candidature.reference).order_by(Candidature.id)).all()
        name = db.scalar(select(Fichier.original_name).order_by(Fichier.id).limit(1))
    return [f"/support/?reference={r}" for r in references[:12]] + \
        [f"/support/?reference={references[0]}&nom={name}"]


# account -> fewest pages its crawl must read (a failed sign-in reads one or two)
ACCOUNTS = {"verificateur@": 20, "verificatrice.segur@": 20, "college@": 4, "support@": 10,
            "admin@": 15}


@pytest.mark.parametrize("role_email", list(ACCOUNTS))
def test_every_page_of_the_demo_speaks_french(demo, role_email) -> None:
    app, credentials = demo
    account = next(a for a in credentials["accounts"] if a["email"].startswith(role_email))
    client = app.test_client()
    _sign_in(client, account)
    starts = ["/"] + (_support_searches(app) if role_email == "support@" else [])
    report, read = crawl(client, starts)
    assert read >= ACCOUNTS[role_email], f"only {read} pages read: sign-in or navigation failed"
    assert not report, "\n".join(f"{url}: {found}" for url, found in report.items())


def test_the_demo_emails_and_documents_speak_french(demo) -> None:
    app, _ = demo
    report = {}
    for path in Path(app.config["MAIL_OUTBOX_DIR"]).glob("*.eml"):
        mail = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        text = f"{mail['Subject']} {mail.get_body(('plain',)).get_content()}"
        if found := problems(text):
            report[path.name] = found
    assert not report, report
    if not shutil.which("pdftotext"):
        missing_tier("poppler's pdftotext is not installed")
    with app.app_context():
        from backoffice.uploads import storage

        files = db.scalars(select(Fichier).join(Certificat, Certificat.fichier_id == Fichier.id))
        for fichier in files:
            with storage().open(fichier.storage_key) as handle:
                out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"],
                                     input=handle.read(), capture_output=True, check=True,
                                     timeout=60)
            if found := problems(out.stdout.decode()):
                report[fichier.original_name] = found
    assert not report, report
