"""/statistiques in a real browser, as each role that may open it: no serious or critical
axe violation, every chart is an image with a text alternative and is followed by its data
table, the workload only for the administrator, the page prints without its filters. The
public figures, without an account: a table of counts, no vendor's name, axe clean."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import axe_violations, login, screenshot

pytestmark = pytest.mark.browser

EXPECTED = {
    "admin": {"stock", "ages", "retards", "delais", "tours", "exigences", "flux", "seances",
              "charge", "projection"},
    "verificateur": {"stock", "ages", "retards", "delais", "tours", "exigences", "flux",
                     "projection"},
    "college": {"seances"},
}


@pytest.mark.parametrize("role", ["admin", "verificateur", "college"])
def test_statistics_page_for_each_role(page, live_server, role) -> None:
    with live_server.app.app_context():  # the periodic job's work, as the worker would
        from backoffice.db import db
        from backoffice.statistics.aggregate import rafraichir

        rafraichir(complet=True)
        db.commit()
    login(page, live_server.account(role))
    # from the navigation (the administration's menu for an administrator)
    page.get_by_role("link", name="Statistiques").first.click()
    expect(page).to_have_url(re.compile(r"/statistiques/$"))
    sections = page.locator("section.stat-section")
    expect(sections.first).to_be_attached()
    ids = {sections.nth(i).get_attribute("data-table") for i in range(sections.count())}
    assert ids == EXPECTED[role]
    for i in range(sections.count()):
        section = sections.nth(i)
        assert section.locator("table caption").count() == 1
        assert section.locator(".stat-summary").inner_text().strip()
        charts = section.locator("svg[role=img]")
        if charts.count():
            described = charts.first.locator("desc").text_content()
            assert described == section.locator(".stat-summary").inner_text().strip()
            # the table comes after its chart
            assert section.evaluate(
                "s => s.querySelector('svg').compareDocumentPosition(s.querySelector('table'))"
                " & Node.DOCUMENT_POSITION_FOLLOWING") > 0
    if role != "college":
        expect(page.locator("svg[role=img]").nth(4)).to_be_attached()
    # filters: a démarche of the list narrows the page (vérificateur: their teams' only)
    if role != "college":
        page.get_by_label("Période", exact=True).select_option("8")
        page.get_by_role("button", name="Afficher").click()
        expect(page).to_have_url(re.compile(r"periode=8"))
    assert axe_violations(page) == []
    page.emulate_media(media="print")
    expect(page.locator("#filtres-statistiques")).to_be_hidden()
    expect(page.locator("section.stat-section table").first).to_be_visible()
    page.emulate_media(media="screen")
    screenshot(page, f"statistiques-{role}")


def _refresh(live_server) -> None:
    with live_server.app.app_context():
        from backoffice.db import db
        from backoffice.statistics.aggregate import rafraichir

        rafraichir(complet=True)
        db.commit()


def test_public_figures_without_an_account(page, live_server) -> None:
    from backoffice.seed import ORGANISATIONS

    _refresh(live_server)
    page.goto("/statistiques/publiques")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Certificats et référencements délivrés")
    table = page.locator("#table-publiques table")
    expect(table.locator("caption")).to_have_count(1)
    expect(table.locator("tbody tr")).to_have_count(12)  # the last 12 months
    expect(page.locator(".stat-summary")).to_contain_text("délivrés sur les 12 derniers mois")
    # the demo issues certificates: the counts are not all zero
    cells = table.locator("tbody td").all_inner_texts()
    assert any(int(c) > 0 for c in cells)
    text = page.locator("main").inner_text()
    for organisation, product, _ in ORGANISATIONS:
        assert organisation not in text and product not in text
    expect(page.get_by_role("link", name="Se déconnecter")).to_have_count(0)
    assert axe_violations(page) == []
    screenshot(page, "statistiques-publiques")
