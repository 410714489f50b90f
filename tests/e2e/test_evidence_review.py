"""Evidence review in a real browser: a non-conforme exigence sends the section back; the
vendor uploads a new file and resubmits through the API; round 2 shows what changed; the
vérificateur validates, and the last validated section moves the dossier to the collège."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.db import db
from backoffice.demo_files import one_page_pdf
from backoffice.models import Candidature, SectionReview
from backoffice.seed import new_api_token
from tests.e2e.conftest import axe_violations, confirm, login, screenshot

pytestmark = pytest.mark.browser


def _vendor_token(live_server, reference):
    """Test set-up: a token for the organisation that owns the candidature."""
    with live_server.app.app_context():
        candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
        token, raw = new_api_token(candidature.organisation, "e2e")
        db.add(token)
        db.commit()
    return raw


def _judge(page, code, verdict, comment=None):
    section = page.locator(f'section[data-code="{code}"]')
    section.locator("label", has_text={"conforme": "Conforme", "non_conforme": "Non conforme",
                                       "non_applicable": "Non applicable"}[verdict]).first.click()
    if comment:
        section.locator("textarea").fill(comment)
    expect(page.locator("#section-save-status")).to_have_text("Enregistré")  # autosaved


def _review_all_conforme(page):
    if page.get_by_role("button", name="Commencer la revue").count():
        page.get_by_role("button", name="Commencer la revue").click()
        page.wait_for_load_state("networkidle")
    confirm(page, page.locator("#section-verdicts"), "Tout conforme")
    page.get_by_role("button", name="Valider la section").click()
    page.wait_for_load_state("networkidle")


def test_review_a_section_over_two_rounds_until_the_college(page, live_server) -> None:
    login(page, live_server.account("verificateur"))
    page.goto("/instruction/sections?demarche=dmn_pecan&section=RGPD")
    link = page.locator("#table-sections-file tbody tr[data-section=RGPD] a").first
    reference = link.inner_text().split(" · ")[0]
    link.click()
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Commencer la revue").click()
    page.wait_for_load_state("networkidle")
    code = page.locator("section[data-code]").first.get_attribute("data-code")
    _judge(page, code, "non_conforme", "Le registre des traitements n'est pas daté.")
    expect(page.locator("#modifications-message")).to_have_value(
        re.compile("Le registre des traitements n'est pas daté."))
    assert axe_violations(page) == []
    screenshot(page, "revue-section-tour-1")
    page.get_by_role("button", name="Demander des modifications").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Modifications demandées sur la section RGPD.")).to_be_visible()

    # the vendor answers through the API
    api = f"{live_server.url}/api/v1/candidatures/{reference}"
    headers = {"Authorization": f"Bearer {_vendor_token(live_server, reference)}"}
    section = requests.get(f"{api}/sections/RGPD", headers=headers, timeout=30).json()
    old = section["exigences"][0]["preuves"][0]["id"]
    assert requests.delete(f"{api}/preuves/{old}", headers=headers, timeout=30).ok
    upload = requests.post(f"{api}/sections/RGPD/exigences/{code}/preuves", headers=headers,
                           timeout=30, files={"file": ("registre-date.pdf",
                                                       one_page_pdf("Registre daté"),
                                                       "application/pdf")})
    assert upload.status_code == 201, upload.text
    resubmitted = requests.post(f"{api}/sections/RGPD/submit", headers=headers, timeout=30)
    assert resubmitted.json()["round"] == 2

    # round 2: the diff, then validation
    page.reload()
    page.get_by_role("button", name="Commencer la revue").click()
    page.wait_for_load_state("networkidle")
    exigence = page.locator(f'section[data-code="{code}"]')
    expect(exigence.get_by_text("Ajoutée au tour 2")).to_be_visible()
    expect(exigence.get_by_text("Archivée au tour 2")).to_be_visible()
    expect(exigence.get_by_text("Modifiée au tour 2")).to_be_visible()
    exigence.locator("summary").click()
    expect(exigence.get_by_text("Tour 1 : Non conforme — Le registre des traitements n'est "
                                "pas daté.")).to_be_visible()
    screenshot(page, "revue-section-tour-2")
    _judge(page, code, "conforme")
    page.get_by_role("button", name="Valider la section").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Section RGPD validée.")).to_be_visible()

    # the other sections, then the dossier is at the collège
    with live_server.app.app_context():
        others = db.scalars(select(SectionReview.code).join(Candidature).where(
            Candidature.reference == reference, SectionReview.status != "validee")).all()
    for other in others:
        page.goto(f"/instruction/candidatures/{reference}/sections/{other}")
        _review_all_conforme(page)
    page.goto(f"/instruction/candidatures/{reference}")
    expect(page.locator(".fr-stepper__title")).to_have_text(re.compile("^Collège de certification"))
