"""« Quoi de neuf » in a browser (issue 18, item 1): the vendor answers a request for
compléments (a message, then the resubmission) while the vérificateur who holds the
dossier is elsewhere; the queue row says « Modifié », the dossier's tabs say what
(Formulaire « Modifié », Messagerie « Nouveau »), the step says « compléments reçus le … »
with its delay resumed, and the « Activité » page tells it. Axe finds nothing serious."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature, CandidatureStep, User
from backoffice.queues.candidatures import visible_demarches
from backoffice.workflow import forms
from backoffice.workflow.base import Industriel
from backoffice.workflow.messages import ecrire
from tests.e2e.conftest import LIVE_APPS, axe_violations, login, screenshot

pytestmark = pytest.mark.browser


def _waiting_on_the_vendor(live_server, email: str) -> tuple[str, str]:
    """A demo dossier of this vérificateur waiting on compléments, and another one."""
    with LIVE_APPS[live_server.url].app_context():
        user = db.scalar(select(User).where(User.email == email))
        demarches = visible_demarches(user)
        waiting = db.scalar(select(Candidature.reference)
                            .join(CandidatureStep, (CandidatureStep.candidature_id
                                                    == Candidature.id)
                                  & (CandidatureStep.step == Candidature.current_step))
                            .where(CandidatureStep.status == "complements_demandes",
                                   CandidatureStep.assignee_id == user.id,
                                   Candidature.demarche_code.in_(demarches))
                            .order_by(Candidature.id).limit(1))
        other = db.scalar(select(Candidature.reference).where(
            Candidature.demarche_code.in_(demarches), Candidature.reference != waiting)
            .order_by(Candidature.id).limit(1))
        return waiting, other


def _vendor_answers(live_server, reference: str) -> None:
    with LIVE_APPS[live_server.url].app_context():
        candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
        vendor = Industriel(candidature.organisation)
        ecrire(candidature, actor=vendor, body="Voici la lettre d'engagement signée.")
        forms.soumettre(candidature, candidature.current_step, actor=vendor)
        db.commit()


def test_a_verificateur_sees_what_is_new_on_a_resubmitted_dossier(page, live_server) -> None:
    account = live_server.account("verificateur")
    reference, other = _waiting_on_the_vendor(live_server, account["email"])
    assert reference and other, "the demo holds a dossier waiting on compléments"
    login(page, account)
    page.goto(f"/instruction/candidatures/{reference}")
    expect(page.get_by_test_id("echeance")).to_contain_text("Délai suspendu")
    page.goto(f"/instruction/candidatures/{other}")  # elsewhere: the visit ended

    _vendor_answers(live_server, reference)

    page.goto("/instruction/file?vue=tous")
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row.get_by_test_id("marque")).to_have_text(
        re.compile(r"^Modifié\s*depuis votre dernière visite$"))
    assert axe_violations(page) == []

    with page.expect_navigation():
        row.get_by_role("link", name=reference).click()
    tabs = page.get_by_role("navigation", name="Onglets du dossier")
    expect(tabs.get_by_test_id("marque-formulaire")).to_contain_text("Modifié")
    expect(tabs.get_by_test_id("marque-messagerie")).to_contain_text("Nouveau")
    expect(page.get_by_test_id("complements-recus")).to_contain_text(
        "Délai repris là où il s'était arrêté")
    expect(page.get_by_test_id("echeance")).to_contain_text("j restants")
    expect(page.get_by_test_id("echeance")).not_to_contain_text("en retard")
    assert axe_violations(page) == []
    screenshot(page, "dossier-nouveautes")

    # the new message, on the Messagerie tab of the same visit
    tabs.get_by_role("link", name=re.compile("^Messagerie")).click()
    expect(page.get_by_text("Voici la lettre d'engagement signée.")).to_be_visible()

    # seen: the queue row has no mark any more
    page.goto("/instruction/file?vue=tous")
    expect(page.locator(f'tr[data-reference="{reference}"]')).to_be_visible()
    expect(page.locator(f'tr[data-reference="{reference}"]').get_by_test_id("marque")) \
        .to_have_count(0)

    # the « Activité » page tells the story, filtered to the vendor's answers
    page.get_by_role("link", name="Activité").first.click()
    expect(page.get_by_role("heading", name="Activité", level=1)).to_be_visible()
    page.select_option("#type", "depots")
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile("type=depots"))
    story = page.locator("#table-activite tr", has_text=reference)
    expect(story.first).to_contain_text("a soumis l'étape")
    assert axe_violations(page) == []
