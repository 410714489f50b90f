"""A vérificateur finds a rejected dossier by its reference, filters the « Traités » view,
saves it as a view shared with the team and reuses it; the skip link leads to the
results, and the first dossier within 4 Tabs of it (issue 18, items 2 and 3)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature, User
from backoffice.queues.candidatures import visible_demarches
from tests.e2e.conftest import LIVE_APPS, axe_violations, login, screenshot

pytestmark = pytest.mark.browser


def _a_rejected_reference(live_server, email: str) -> str:
    """A demo candidature rejected at a form step, among the account's démarches."""
    with LIVE_APPS[live_server.url].app_context():
        user = db.scalar(select(User).where(User.email == email))
        return db.scalar(select(Candidature.reference).where(
            Candidature.status == "rejetee",
            Candidature.demarche_code.in_(visible_demarches(user)))
            .order_by(Candidature.id).limit(1))


def test_find_a_rejected_dossier_then_save_and_reuse_a_view(page, live_server) -> None:
    account = live_server.account("verificateur")
    reference = _a_rejected_reference(live_server, account["email"])
    assert reference, "the demo holds a rejected candidature"
    login(page, account)

    # the exact reference, typed in the queue's search box, opens the ended dossier
    page.goto("/instruction/file")
    page.get_by_label("Rechercher").fill(reference.lower())
    with page.expect_navigation():
        page.get_by_label("Rechercher").press("Enter")
    expect(page).to_have_url(re.compile(f"/instruction/candidatures/{reference}$"))
    expect(page.get_by_test_id("reference")).to_have_text(reference)

    # « Traités », filtered « Rejetée »: it is there
    page.goto("/instruction/file")
    page.get_by_role("link", name="Traités").click()
    expect(page.get_by_role("link", name="Traités")).to_have_attribute("aria-current", "page")
    page.select_option("#statut", "rejetee")
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile("statut=rejetee"))
    expect(page.locator(f'#table-file tr[data-reference="{reference}"]')).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "file-traites-rejetees")

    # saved as a view shared with the team
    page.get_by_label("Enregistrer cette vue sous le nom").fill("Rejetées à revoir")
    page.locator("#equipe").select_option(index=1)
    page.get_by_role("button", name="Enregistrer la vue").click()
    expect(page.get_by_text("Vue « Rejetées à revoir » enregistrée et partagée")).to_be_visible()

    # reset, then reuse the view
    page.get_by_role("link", name="Réinitialiser les filtres").click()
    expect(page).to_have_url(re.compile(r"/instruction/file\?vue=traites$"))
    page.goto("/instruction/file")
    expect(page.locator(f'#table-file tr[data-reference="{reference}"]')).to_have_count(0)
    page.get_by_role("link", name="Rejetées à revoir").click()
    expect(page).to_have_url(re.compile("statut=rejetee"))
    expect(page.locator("#statut")).to_have_value("rejetee")
    expect(page.locator(f'#table-file tr[data-reference="{reference}"]')).to_be_visible()

    # keyboard: the skip link, then the first dossier within a few Tabs
    page.goto("/instruction/file")
    for _ in range(4):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == "#table-file":
            break
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#table-file"
    page.keyboard.press("Enter")
    # the scrollable table's wrapper (focusable, so that a keyboard can scroll it), the
    # sortable headers, the first row's checkbox, then its reference
    trail = []
    for _ in range(6):
        page.keyboard.press("Tab")
        trail.append(page.evaluate(
            "document.activeElement.tagName + ' ' + (document.activeElement.closest('tr') "
            "|| {dataset: {}}).dataset.reference"))
        if re.fullmatch(r"A [A-Z]{9}", trail[-1]):
            break
    assert re.fullmatch(r"A [A-Z]{9}", trail[-1]), trail
