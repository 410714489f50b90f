"""Support deletes an erroneous upload in a real browser: found by reference and name,
deleted with a motive; the vérificateur no longer sees it, the vendor's thread says so,
the audit trail shows it, the bytes are gone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import (
    AuditEvent,
    Candidature,
    CandidatureStep,
    Fichier,
    Message,
    ZipPourAvis,
)
from backoffice.uploads import storage
from tests.e2e.conftest import axe_violations, confirm, login

pytestmark = pytest.mark.browser


def test_support_deletes_the_ligne_generique_zip(page, live_server) -> None:
    with live_server.app.app_context():
        upload, reference = db.execute(
            select(ZipPourAvis, Candidature.reference)
            .join(Candidature, Candidature.id == ZipPourAvis.candidature_id)
            .join(CandidatureStep, (CandidatureStep.candidature_id == Candidature.id)
                  & (CandidatureStep.step == "preuves_pour_avis"))
            .where(ZipPourAvis.superseded_at.is_(None), CandidatureStep.status == "deposees")
        ).first()
        fichier = db.get(Fichier, upload.fichier_id)
        path = storage().path(fichier.storage_key)
        assert fichier.original_name == "preuves_INS.zip" and path.exists()

    login(page, live_server.account("support"))
    page.get_by_label("Référence de candidature *").fill(reference)
    page.get_by_label("Nom du fichier").fill("preuves_INS")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state("networkidle")
    panel = page.locator('section[data-file="preuves_INS.zip"]')
    expect(panel.get_by_text("Archive de preuves pour avis")).to_be_visible()
    assert axe_violations(page) == []
    panel.get_by_label("Référence de la demande *").fill("SUP-2026-0007")
    panel.get_by_label("Motif *").fill("Archive déposée sur la mauvaise candidature")
    confirm(page, panel, "Supprimer ce fichier")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("« preuves_INS.zip » est supprimé")).to_be_visible()
    page.get_by_role("button", name="Se déconnecter").click()

    login(page, live_server.account("verificateur"))
    page.goto(f"/instruction/candidatures/{reference}/pour-avis")
    expect(page.get_by_text("L'industriel n'a pas encore déposé son archive.")).to_be_visible()
    expect(page.get_by_text("supprimée par le support")).to_be_visible()

    with live_server.app.app_context():
        candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
        message = db.scalar(select(Message).where(Message.candidature_id == candidature.id,
                                                  Message.event == "support.fichier_supprime"))
        assert "SUP-2026-0007" in message.body
        assert db.scalar(select(AuditEvent).where(
            AuditEvent.candidature_id == candidature.id,
            AuditEvent.action == "support.supprimer_fichier")) is not None
    assert not path.exists()
