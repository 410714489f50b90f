"""Certificate issuance after a favourable decision: exactly once, signed (PAdES), checked
by pyHanko's validator and by poppler's pdfsig, verifiable in public, suspendable."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from backoffice.db import db
from backoffice.models import AuditEvent, Candidature, Certificat, Fichier, Message
from backoffice.tokens import new_api_token
from backoffice.uploads import storage
from backoffice.workflow import emission
from tests.conftest import missing_tier, signing_material
from tests.helpers import csrf_token, login


@pytest.fixture
def certified(driver, product):
    """A nom de marque candidature through the collège; the commit runs the job."""
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.drive(candidature, "certificat")
    db.commit()
    db.expire_all()
    return db.get(Candidature, candidature.id)


def _pdf(cert: Certificat) -> bytes:
    fichier = db.get(Fichier, cert.fichier_id)
    with storage().open(fichier.storage_key) as handle:
        return handle.read()


def _validate(data: bytes):
    from asn1crypto import pem, x509

    with open(signing_material()["SIGNING_CA"], "rb") as handle:
        _, _, der = pem.unarmor(handle.read())
    context = ValidationContext(trust_roots=[x509.Certificate.load(der)])
    signature = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    return validate_pdf_signature(signature, context)


def test_favourable_decision_issues_one_signed_certificate(certified) -> None:
    assert certified.status == "certifiee" and certified.step("certificat").status == "emis"
    cert = db.scalar(select(Certificat).where(Certificat.candidature_id == certified.id))
    assert cert.number.startswith("ANS-DMN-") and cert.kind == "certificat"
    data = _pdf(cert)
    status = _validate(data)
    assert status.intact and status.valid and status.bottom_line
    text = data.decode("latin-1")
    assert cert.number in text and "Agence du Num" in text
    message = db.scalar(select(Message).where(Message.candidature_id == certified.id,
                                              Message.event == "emission.emis"))
    assert cert.number in message.body
    assert [f.id for f in message.attachments] == [cert.fichier_id]  # the vendor gets it
    assert "certificat.emis" in db.scalars(select(AuditEvent.action)).all()


def test_a_changed_byte_breaks_the_signature(certified) -> None:
    cert = db.scalar(select(Certificat).where(Certificat.candidature_id == certified.id))
    data = bytearray(_pdf(cert))
    index = data.find(cert.product_label.split(" - ")[0].encode())
    data[index] = ord("X")
    status = _validate(bytes(data))
    assert not status.intact and not status.bottom_line


def test_pdfsig_validates_the_signature_independently(certified, tmp_path) -> None:
    if not shutil.which("pdfsig"):
        missing_tier("poppler's pdfsig is missing (apt-get install poppler-utils)")
    cert = db.scalar(select(Certificat).where(Certificat.candidature_id == certified.id))
    path = tmp_path / "certificat.pdf"
    path.write_bytes(_pdf(cert))
    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    assert "Signature Validation: Signature is Valid." in report.stdout, report.stdout
    tampered = bytearray(path.read_bytes())
    tampered[tampered.find(b"ANS-DMN")] = ord("X")
    path.write_bytes(bytes(tampered))
    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid." not in report.stdout, report.stdout


def test_issued_exactly_once(certified) -> None:
    from jobs.certificats import emettre

    assert emettre(certified.id) is None  # the work is done: nothing happens
    assert db.scalar(select(func.count()).select_from(Certificat)) == 1


def test_sons_sas_gets_a_referencement_number(segur_driver, product) -> None:
    candidature = segur_driver.open(product, "sons_sas")
    segur_driver.drive(candidature, "referencement")
    db.commit()
    cert = db.scalar(select(Certificat).where(Certificat.candidature_id == candidature.id))
    assert cert.number.startswith("ANS-SAS-")
    assert cert.numero_referencement.startswith("SONS-SAS-")
    db.expire_all()
    assert db.get(Candidature, candidature.id).status == "referencee"


def test_failed_issuance_is_visible_and_can_be_retried(app, client, driver, product) -> None:
    saved = app.config["SIGNING_KEY"]
    app.config.update(SIGNING_KEY="/nulle/part.pem", JOBS_RAISE=False)
    try:
        candidature = driver.open(product, "dmn_pect")
        driver.drive(candidature, "certificat")
        db.commit()
    finally:
        app.config.update(SIGNING_KEY=saved, JOBS_RAISE=True)
    db.expire_all()
    candidature = db.get(Candidature, candidature.id)
    assert candidature.step("certificat").status == "echec_emission"
    assert db.scalar(select(Certificat).where(  # nothing half-written
        Certificat.candidature_id == candidature.id)) is None
    assert "certificat.echec" in db.scalars(select(AuditEvent.action)).all()
    from tests.factories import TeamFactory, UserFactory
    from tests.helpers import login_as

    # the dossier says so (emission.en_echec, not a status compared in the template), and
    # offers « Relancer » to its vérificateurs (can_relancer)
    assert emission.en_echec(candidature)
    login_as(client, UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")]))
    page = client.get(f"/instruction/candidatures/{candidature.reference}").get_data(
        as_text=True)
    alert = page.split('data-testid="emission-echec"')[1].split("</div>")[0]
    assert "Échec de l'émission" in alert and ">Relancer</button>" in alert

    emission.relancer(candidature, actor=UserFactory(roles=["admin"]))
    db.commit()
    db.expire_all()
    assert db.get(Candidature, candidature.id).status == "certifiee"
    assert not emission.en_echec(db.get(Candidature, candidature.id))
    assert db.scalar(select(func.count()).select_from(Certificat).where(
        Certificat.candidature_id == candidature.id)) == 1


def test_public_verification_and_withdrawal(certified, client) -> None:
    cert = db.scalar(select(Certificat).where(Certificat.candidature_id == certified.id))
    page = client.get(f"/verify/{cert.number}")
    assert page.status_code == 200 and "authentique et en vigueur" in page.get_data(as_text=True)
    data = client.get(f"/verify/{cert.number}", headers={"Accept": "application/json"}).json
    assert data["valid"] is True and data["product"] == cert.product_label
    unknown = client.get("/verify/ANS-DMN-2026-999999", headers={"Accept": "application/json"})
    assert unknown.status_code == 404 and unknown.json["genuine"] is False
    assert client.get("/verify/n-importe-quoi").status_code == 404
    listing = client.get("/certificats").get_data(as_text=True)
    # the list names the certificate without its check part (/verify needs the whole number)
    assert cert.number.rsplit("-", 1)[0] in listing and cert.number not in listing

    from tests.factories import UserFactory

    token, raw = new_api_token(certified.organisation, "portail")
    db.add(token)
    db.commit()
    api = {"Authorization": f"Bearer {raw}"}

    def api_certificate() -> dict:
        response = client.get(f"/api/v1/candidatures/{certified.reference}", headers=api)
        assert response.status_code == 200
        return response.json["result"]

    assert api_certificate()["status"] == "valide"
    login(client, UserFactory(roles=["admin"]))
    path = f"/admin/certificat/statut/{cert.id}"

    def post(status: str, motive: str) -> str:
        return client.post(path, data={"status": status, "motive": motive,
                                       "csrf_token": csrf_token(client, path)},
                           follow_redirects=True).get_data(as_text=True)

    assert "Le motif est obligatoire." in post("retire", "")
    assert "Le motif est obligatoire." in post("retire", "   ")
    db.expire_all()
    assert db.get(Certificat, cert.id).status == "valide"
    # a status the certificate cannot reach from where it is: refused in French
    assert "cette action n&#39;est pas possible" in post("valide", "Rien à lever")

    post("suspendu", "Audit de surveillance en cours.")
    assert api_certificate()["status"] == "suspendu"
    assert client.get(f"/verify/{cert.number}", headers={
        "Accept": "application/json"}).json["valid"] is False
    post("valide", "Audit concluant.")
    assert api_certificate()["status"] == "valide"

    post("retire", "Non-conformité constatée.")
    certificate = api_certificate()
    assert certificate["status"] == "retire" and certificate["status_changed_at"]
    data = client.get(f"/verify/{cert.number}", headers={"Accept": "application/json"}).json
    assert data["status"] == "retire" and data["valid"] is False
    assert "status_motive" not in data  # the motive stays internal
    page = client.get(f"/verify/{cert.number}").get_data(as_text=True)
    assert "a été retiré" in page and "Non-conformité" not in page
    # withdrawn is final: the form is gone, a stale post is refused
    assert "Enregistrer" not in client.get(path).get_data(as_text=True)
    assert "est « retiré »" in post("valide", "Erreur")
    actions = db.scalars(select(AuditEvent.action)).all()
    assert {"certificat.suspendre", "certificat.retablir", "certificat.retirer"} <= set(actions)
    # the vendor reads each change and its motive in the thread (and by e-mail)
    thread = client.get(f"/api/v1/candidatures/{certified.reference}/messages",
                        headers=api).json["items"]
    events = [(m["event"], m["body"]) for m in thread if m["event"].startswith("certificat.")]
    assert [e for e, _ in events] == ["certificat.suspendu", "certificat.valide",
                                      "certificat.retire"]
    assert "Non-conformité constatée." in events[-1][1] and cert.number in events[-1][1]


def test_signing_works_from_a_thread_running_an_event_loop(ctx) -> None:
    """pyHanko starts its own event loop: from inside a running one (an async server, a
    browser driver's), the signature is made in another thread, and is valid."""
    import asyncio

    from backoffice import signing
    from backoffice.demo_files import one_page_pdf

    async def inside_a_loop() -> bytes:
        return signing.sign_pdf(one_page_pdf("Attestation"), reason="test")

    signed = asyncio.run(inside_a_loop())
    assert signed.startswith(b"%PDF") and b"/ByteRange" in signed and b"/Contents <" in signed
