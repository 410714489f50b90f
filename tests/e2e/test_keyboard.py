"""Keyboard only, from the home page to a recevabilité decision (issue 18): after signing
in, every move is a key press — Tab to a link or a button, Enter, type the reference —
and the decision's confirmation dialog is reached and confirmed from the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature, CandidatureStep, User
from backoffice.queues.candidatures import visible_demarches
from tests.e2e.conftest import LIVE_APPS, login

pytestmark = pytest.mark.browser

FOCUSED = ("(() => { const e = document.activeElement;"
           " return (e.innerText || e.value || e.getAttribute('aria-label') || '').trim(); })()")


def _waiting_recevabilite(live_server, email: str) -> str:
    """A demo candidature whose recevabilité is submitted and held by nobody."""
    with LIVE_APPS[live_server.url].app_context():
        user = db.scalar(select(User).where(User.email == email))
        return db.scalar(
            select(Candidature.reference).join(
                CandidatureStep, (CandidatureStep.candidature_id == Candidature.id)
                & (CandidatureStep.step == Candidature.current_step))
            .where(Candidature.status == "en_cours",
                   Candidature.current_step == "recevabilite",
                   CandidatureStep.status == "soumise",
                   CandidatureStep.assignee_id.is_(None),
                   Candidature.demarche_code.in_(visible_demarches(user)))
            # not the one test_workspace.py instructs (the live demo is shared by the
            # session's browser tests): another démarche first, the newest otherwise
            .order_by(Candidature.demarche_code == "dmn_nom_de_marque",
                      Candidature.id.desc()).limit(1))


def _tab_to(page, name: str, limit: int = 80) -> None:
    """Tab (forwards) until the focused element's text starts with `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED).startswith(name):
            return
    raise AssertionError(f"« {name} » not reached within {limit} Tabs")


def test_from_the_home_page_to_a_recevabilite_decision_with_the_keyboard(page,
                                                                          live_server) -> None:
    account = live_server.account("verificateur")
    reference = _waiting_recevabilite(live_server, account["email"])
    assert reference, "the demo holds a recevabilité waiting for a vérificateur"
    login(page, account)
    page.goto("/instruction/")

    _tab_to(page, "À instruire")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/instruction/file\?"))

    # the search box: the exact reference opens its dossier
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type(reference)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/instruction/candidatures/{reference}$"))

    _tab_to(page, "Je prends ce dossier")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_text("Le dossier vous est attribué.")).to_be_visible()

    _tab_to(page, "Valider la recevabilité")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=re.compile("Valider la recevabilité"))
    expect(dialog).to_be_visible()
    # the dialog holds the focus: Tab reaches its confirming button
    _tab_to(page, "Valider la recevabilité", limit=10)
    assert page.evaluate("!!document.activeElement.closest('dialog')")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_text("Recevabilité : étape validée.")).to_be_visible()
