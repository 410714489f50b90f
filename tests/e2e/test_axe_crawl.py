"""axe-core on every page of every role (issue 18, "Done when"): signed in as each demo
account, and as the public, the browser walks every page reachable from the home page and
runs axe-core on each; no serious or critical violation anywhere. One page per kind: a
path whose identifiers differ (another dossier, another admin object) is the same kind, so
each admin list, details, edit and creation page is read with one object per model."""

from __future__ import annotations

import json
import re
from collections import deque
from urllib.parse import parse_qsl, urldefrag, urlsplit

import pytest

from tests.e2e.conftest import AXE, RESULTS, login

pytestmark = pytest.mark.browser

MAX_PAGES = 120  # per role; the demo has about 40 kinds of page per role
# never followed: they act (sign out), serve bytes (files, exports, PDF, previews) or probe
SKIP = re.compile(r"^/(deconnexion|static/|api/|sante|metrics)|\.(pdf|png|csv|xlsx|ods|json)$"
                  r"|/(apercu|telecharger|fichier|entree)(/|$)|/fichiers/\d+$"
                  r"|/export/|/admin/.*/(export|ajax)/")
# identifiers in a path: the kind of a page is its path with them replaced
IDENTIFIER = re.compile(r"/(\d+|[A-Z][A-Z0-9._-]{3,})(?=/|$)")
# query parameters that choose another page rather than filter or sort the same one
KEEP = {"onglet", "id"}

ROLES = {
    "admin": ["/admin/"],
    "verificateur": ["/instruction/"],
    "college": ["/college/"],
    "support": ["/support/"],
    "public": ["/certificats", "/statistiques/publiques", "/connexion"],
}


def _kind(path: str, query: str) -> str:
    kept = sorted((k, "*" if k == "id" else v) for k, v in parse_qsl(query) if k in KEEP)
    return IDENTIFIER.sub("/*", path) + "?" + "&".join(f"{k}={v}" for k, v in kept)


def _links(page) -> list[str]:
    return page.eval_on_selector_all(
        "a[href]", "links => links.map(a => a.getAttribute('href'))")


def _axe(page) -> list[dict]:
    page.add_script_tag(content=AXE)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def crawl(page, starts: list[str]) -> tuple[dict[str, list[dict]], list[str]]:
    kinds = {_kind(*urlsplit(s)[2:4]) for s in starts}
    queue, found, read = deque(starts), {}, []
    while queue and len(read) < MAX_PAGES:
        url = queue.popleft()
        response = page.goto(url)
        assert response is not None and response.status < 500, f"{url}: {response.status}"
        if "text/html" not in (response.headers.get("content-type") or ""):
            continue
        page.wait_for_load_state("load")
        read.append(url)
        violations = _axe(page)
        if violations:
            found[url] = violations
        for href in _links(page):
            link = urldefrag(href)[0]
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            if SKIP.search(parts.path):
                continue
            kind = _kind(parts.path, parts.query)
            if kind in kinds:
                continue
            kinds.add(kind)
            query = "&".join(f"{k}={v}" for k, v in parse_qsl(parts.query) if k in KEEP)
            queue.append(parts.path + (f"?{query}" if query else ""))
    return found, read


@pytest.mark.parametrize("role", list(ROLES))
def test_no_serious_axe_violation_on_any_page(page, live_server, role) -> None:
    if role != "public":
        login(page, live_server.account(role))
    found, read = crawl(page, ROLES[role])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"axe-crawl-{role}.json").write_text(
        json.dumps({"pages": read, "violations": found}, indent=2, ensure_ascii=False))
    assert len(read) >= {"public": 3, "support": 3, "college": 5}.get(role, 10), read
    if role == "admin":  # every model's list, details and edit pages
        assert sum("/details/" in u for u in read) >= 8, read
        assert sum("/edit/" in u for u in read) >= 8, read
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)[:4000]


def test_admin_filters_added_by_script_are_labelled(page, live_server) -> None:
    """Flask-Admin's script builds a filter's inputs on demand: they get French names."""
    from playwright.sync_api import expect

    login(page, live_server.account("admin"))
    page.goto("/admin/user/")
    page.get_by_role("link", name="Ajouter un filtre").click()
    page.locator(".field-filters a.filter", has_text="Actif").click()
    row = page.locator("table.filters tr").first
    expect(row.locator("[aria-label^='Valeur du filtre « Actif']").first).to_be_attached()
    assert _axe(page) == []
