"""The result on the dossier, in the thread, the API and the e-mail (issue 17, item 1): a
référencée SONS SAS candidature shows its attestation's number and its numéro unique de
référencement everywhere the vendor or the vérificateur looks, and the e-mail carries the
document (or, above MAIL_ATTACHMENTS_MAX_BYTES, says where it is)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature, Certificat, Message
from tests.helpers import login, logout, pdf_text


def _referencee(desk) -> tuple[Candidature, Certificat]:
    candidature = desk.candidature("sons_sas", until="referencement")  # the commit issues
    db.expire_all()
    candidature = db.get(Candidature, candidature.id)
    assert candidature.status == "referencee"
    cert = db.scalar(select(Certificat).where(Certificat.candidature_id == candidature.id))
    return candidature, cert


def _mail(app, reference: str) -> email.message.EmailMessage:
    found = [m for m in (email.message_from_bytes(p.read_bytes(), policy=policy.default)
                         for p in Path(app.config["MAIL_OUTBOX_DIR"]).glob("*.eml"))
             if reference in m["Subject"] and "émise" in m["Subject"]]
    assert len(found) == 1
    return found[0]


def test_the_thread_and_the_api_give_the_numero_de_referencement(desk) -> None:
    candidature, cert = _referencee(desk)
    assert cert.numero_referencement
    message = db.scalar(select(Message).where(Message.candidature_id == candidature.id,
                                              Message.event == "emission.referencement_emis"))
    assert message.subject == "Attestation de référencement émise"
    assert message.body.startswith("L'attestation de référencement a été émise sous le numéro "
                                   f"{cert.number}.")
    assert f"numéro unique de référencement est le {cert.numero_referencement}" in message.body
    assert "L'attestation est jointe à ce message" in message.body
    assert f"/verify/{cert.number}" in message.body
    assert [f.id for f in message.attachments] == [cert.fichier_id]

    result = desk.api.get(f"/candidatures/{candidature.reference}").json["result"]
    assert result["kind"] == "referencement" and result["status"] == "valide"
    assert result["number"] == cert.number
    assert result["numero_referencement"] == cert.numero_referencement
    assert result["verify_url"].endswith(f"/verify/{cert.number}")
    assert result["file"]["id"] == cert.fichier_id
    pdf = desk.api.get(f"/candidatures/{candidature.reference}/files/{cert.fichier_id}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_an_open_candidature_has_no_result(desk) -> None:
    candidature = desk.candidature("sons_sas", until="eligibilite")
    assert desk.api.get(f"/candidatures/{candidature.reference}").json["result"] is None


def test_the_email_carries_the_attestation(app, desk) -> None:
    candidature, cert = _referencee(desk)
    mail = _mail(app, candidature.reference)
    body = mail.get_body(("plain",)).get_content()
    assert cert.numero_referencement in body
    assert "Pièce(s) jointe(s) à ce courriel" in body
    attachments = list(mail.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"{cert.number}.pdf"]
    assert attachments[0].get_content().startswith(b"%PDF")


def test_a_document_too_large_for_an_email_is_named_not_attached(app, desk) -> None:
    app.config["MAIL_ATTACHMENTS_MAX_BYTES"] = 100
    try:
        candidature, cert = _referencee(desk)
    finally:
        app.config["MAIL_ATTACHMENTS_MAX_BYTES"] = 5 * 1024 * 1024
    mail = _mail(app, candidature.reference)
    assert not list(mail.iter_attachments())
    body = mail.get_body(("plain",)).get_content()
    assert "n'est pas joint à ce courriel" in body and f"{cert.number}.pdf" in body


@pytest.mark.parametrize("status", ["valide", "suspendu", "retire"])
def test_the_dossier_shows_the_result_panel(desk, status) -> None:
    candidature, cert = _referencee(desk)
    if status != "valide":
        from backoffice.db import utcnow

        cert.status, cert.status_motive, cert.status_changed_at = status, "Contrôle", utcnow()
        db.commit()
    logout(desk.client)
    login(desk.client, desk.segur)
    page = desk.client.get(f"/instruction/candidatures/{candidature.reference}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="resultat"' in text
    assert cert.number in text and cert.numero_referencement in text
    assert f'href="/verify/{cert.number}"' in text
    assert f"/instruction/fichiers/{cert.fichier_id}/apercu" in text
    label = {"valide": "Valide", "suspendu": "Suspendue", "retire": "Retirée"}[status]
    assert f">{label}</span>" in text


def test_the_attestation_pdf_prints_its_whole_title_and_profile_labels(desk, tmp_path) -> None:
    from backoffice.uploads import storage

    candidature, cert = _referencee(desk)
    with storage().open(cert.fichier.storage_key) as handle:
        text = pdf_text(handle.read(), tmp_path)
    assert "Attestation de conformité — référencement SONS SAS" in text
    assert f"Numéro unique de référencement {cert.numero_referencement}" in " ".join(
        text.replace(" :", "").split())
    assert "Profil Général" in text and "GENERAL" not in text


def test_the_certificate_pdf_names_profiles_by_their_labels(desk, tmp_path) -> None:
    from backoffice.certificates import render
    from backoffice.workflow.referentiels import profil_labels

    candidature, cert = _referencee(desk)
    candidature.demarche_code, cert.kind = "dmn_nom_de_marque", "certificat"
    candidature.profils = ["GEN", "INS"]
    candidature.referentiel_id = None  # the DMN référentiel in force
    labels = profil_labels(candidature)
    text = pdf_text(render(candidature, cert), tmp_path)
    assert "Certificat de conformité" in text
    assert f"{labels['GEN']}, {labels['INS']}" in text
    assert "GEN," not in text and " INS" not in text
    db.rollback()
