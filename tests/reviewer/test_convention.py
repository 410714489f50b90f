"""The convention panel: the PDF generated from the admins' template, sent through Yousign's
API (a local fake server speaking it) by a job after the commit, retried while Yousign is
busy; signed, declined, expired or canceled by webhook; the signed document and the audit
trail downloaded into the dossier; signed by hand with the signed PDF; validated."""

from __future__ import annotations

import io
import json

from sqlalchemy import select

from backoffice.api.webhooks import sign
from backoffice.db import db
from backoffice.models import (
    Candidature,
    Convention,
    Fichier,
    Message,
    MessageTemplate,
    StepForm,
)
from backoffice.tasks import _PENDING
from backoffice.workflow import convention, forms
from tests.api.conftest import PDF
from tests.fake_yousign import AUDIT_TRAIL_PDF, SIGNED_PDF, yousign  # noqa: F401 - fixture
from tests.helpers import csrf_token


def _at_convention(desk) -> Candidature:
    candidature = desk.candidature()
    forms.prendre(candidature, "recevabilite", actor=desk.me)
    forms.valider(candidature, "recevabilite", actor=desk.me)
    db.commit()
    return candidature


def _post(desk, path, **data):
    return desk.client.post(path, data={**data, "csrf_token": csrf_token(desk.client, "/")},
                            follow_redirects=True)


def _convention(candidature) -> Convention:
    db.expire_all()
    return db.scalar(select(Convention).where(Convention.candidature_id == candidature.id))


def _status(candidature) -> str:
    db.expire_all()
    return db.get(Candidature, candidature.id).step("convention").status


def _events(candidature) -> list[str]:
    return list(db.scalars(select(Message.event).where(
        Message.candidature_id == candidature.id).order_by(Message.id)))


def _hook(client, event, request_id, secret="secret-webhook", event_id=None, **extra):
    body = json.dumps({"event_id": event_id or f"evt-{event}-{request_id}",
                       "event_name": f"signature_request.{event}",
                       "data": {"signature_request": {"id": request_id, **extra}}}).encode()
    return client.post("/api/v1/webhooks/yousign", data=body, content_type="application/json",
                       headers={"X-Yousign-Signature-256": sign(secret, body)})


def _text(pdf: bytes) -> str:
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    return "\n".join(page.get_textpage().get_text_range() for page in document)


def test_convention_sent_signed_downloaded_and_validated(desk, yousign, client) -> None:  # noqa: F811
    candidature = _at_convention(desk)
    base = f"/instruction/candidatures/{candidature.reference}"
    response = _post(desk, f"{base}/convention/envoyer")
    assert "La convention est envoyée pour signature." in response.get_data(as_text=True)
    assert [c[1].rsplit("/", 1)[-1] for c in yousign.calls] == [
        "signature_requests", "documents", "signers", "activate"]
    found = _convention(candidature)
    request_id = found.signature_request_id
    assert request_id.startswith("sr-") and found.document_id and found.signer_id
    # the convention itself, from the template and the candidature's data
    text = " ".join(_text(yousign.documents[request_id]).split())
    db.expire_all()
    candidature = db.get(Candidature, candidature.id)
    form = db.scalar(select(StepForm).where(StepForm.candidature_id == candidature.id)).data
    assert form["entreprise"]["raison_sociale"] == "Careoptim"  # the vendor's own name
    for expected in ("Convention d'instruction — Nom de marque", "et Careoptim, SIRET "
                     f"{form['entreprise']['siret']}, représentée par Paul Durand",
                     candidature.product.label, candidature.reference):
        assert expected in text
    assert "{" not in text  # every placeholder filled
    # every signer field, from one person of the form (the contact: the legal
    # representative's block gives no e-mail)
    signer = yousign.signers[request_id]
    assert signer["info"] == {"first_name": "Paul", "last_name": "Durand",
                              "email": form["contact"]["email"],
                              "phone_number": "+33102030405", "locale": "fr"}
    assert signer["fields"][0]["document_id"] == found.document_id
    assert yousign.requests[request_id]["external_id"] == candidature.reference
    assert _events(candidature)[-1] == "convention.envoyee"
    # signed: Yousign's signed document and audit trail join the dossier and the thread
    assert _hook(client, "done", request_id).json["status"] == "processed"
    assert [c[1].rsplit("/", 1)[-1] for c in yousign.calls[4:]] == ["download", "download"]
    found = _convention(candidature)
    signed, trail = db.get(Fichier, found.signed_fichier_id), \
        db.get(Fichier, found.audit_trail_fichier_id)
    assert (signed.size, trail.size) == (len(SIGNED_PDF), len(AUDIT_TRAIL_PDF))
    assert _events(candidature)[-2:] == ["convention.signee", "convention.documents"]
    page = desk.client.get(base).get_data(as_text=True)
    assert "Dossier de preuve Yousign (PDF)" in page and "Valider la convention" in page
    assert desk.client.get(f"/instruction/fichiers/{trail.id}").data == AUDIT_TRAIL_PDF
    history = desk.client.get(f"{base}?onglet=historique").get_data(as_text=True)
    for sentence in ("a créé la demande de signature Yousign",
                     "a joint la convention signée et le dossier de preuve"):
        assert sentence in history.replace("&#39;", "'")
    # the vendor gets both in its thread (API)
    thread = desk.api.get(f"/candidatures/{candidature.reference}/messages").json
    documents = [m for m in thread["items"] if m["event"] == "convention.documents"][0]
    assert sorted(a["name"] for a in documents["attachments"]) == [
        f"convention-{candidature.reference}-dossier-de-preuve.pdf",
        f"convention-{candidature.reference}-signee.pdf"]
    for attachment, data in zip(sorted(documents["attachments"], key=lambda a: a["name"]),
                                (AUDIT_TRAIL_PDF, SIGNED_PDF), strict=True):
        downloaded = desk.api.get(f"/candidatures/{candidature.reference}/files/"
                                  f"{attachment['id']}")
        assert downloaded.status_code == 200 and downloaded.data == data
    # a replayed "done" downloads nothing twice
    calls = len(yousign.calls)
    assert _hook(client, "done", request_id, event_id="evt-autre").json["status"] == "ignored"
    assert len(yousign.calls) == calls
    response = _post(desk, f"{base}/convention/valider")
    assert "le dépôt des preuves est ouvert" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Candidature, candidature.id).current_step == "preuves"


def test_yousign_is_called_after_the_commit_never_under_the_lock(desk, yousign) -> None:  # noqa: F811
    candidature = _at_convention(desk)
    convention.envoyer(candidature, actor=desk.me)
    db.flush()
    assert yousign.calls == []  # the row is still locked: nothing sent yet
    assert [args for _fn, args in db().info[_PENDING]] == [
        ("conventions.envoyer", candidature.id)]
    db.commit()
    assert len(yousign.calls) == 4
    assert _convention(candidature).signature_request_id is not None


def test_busy_yousign_is_retried_with_backoff(desk, yousign) -> None:  # noqa: F811
    candidature = _at_convention(desk)
    yousign.fail = [429, 503]
    convention.envoyer(candidature, actor=desk.me)
    db.commit()
    assert [c[1].rsplit("/", 1)[-1] for c in yousign.calls] == [
        "signature_requests"] * 3 + ["documents", "signers", "activate"]
    assert _status(candidature) == "envoyee"
    assert _convention(candidature).signature_request_id is not None


def test_a_refusal_or_exhausted_retries_put_the_convention_back(desk, yousign, app) -> None:  # noqa: F811
    candidature = _at_convention(desk)
    yousign.fail = [400]  # not retried
    convention.envoyer(candidature, actor=desk.me)
    db.commit()
    assert len(yousign.calls) == 1
    assert _status(candidature) == "a_envoyer"
    assert _convention(candidature).sent_at is None
    assert _events(candidature)[-1] == "convention.envoi_echoue"
    app.config["YOUSIGN_RETRIES"] = 1
    try:
        yousign.fail = [503, 503]
        db.expire_all()
        convention.envoyer(db.get(Candidature, candidature.id), actor=desk.me)
        db.commit()
    finally:
        app.config["YOUSIGN_RETRIES"] = 3
    assert len(yousign.calls) == 3
    assert _status(candidature) == "a_envoyer"


def test_yousign_down_puts_the_convention_back(desk, yousign, app) -> None:  # noqa: F811
    candidature = _at_convention(desk)
    app.config["YOUSIGN_API_URL"] = "http://127.0.0.1:9/v3"  # nothing listens there
    response = _post(desk, f"/instruction/candidatures/{candidature.reference}/convention/envoyer")
    assert response.status_code == 200
    assert _status(candidature) == "a_envoyer"
    body = db.scalar(select(Message.body).where(Message.candidature_id == candidature.id,
                                                Message.event == "convention.envoi_echoue"))
    assert "n'a pas abouti" in body


def test_declined_goes_back_with_the_reason_then_canceled_and_expired(desk, yousign, client) -> None:  # noqa: F811, E501
    candidature = _at_convention(desk)
    convention.envoyer(candidature, actor=desk.me)
    db.commit()
    first = _convention(candidature).signature_request_id
    declined = _hook(client, "declined", first,
                     decline_information={"reason": "Le signataire n'est pas le bon."})
    assert declined.json["status"] == "processed"
    assert _status(candidature) == "a_envoyer"
    assert _convention(candidature).signature_request_id is None
    message = db.scalars(select(Message).where(Message.candidature_id == candidature.id)
                         .order_by(Message.id.desc())).first()
    assert message.event == "convention.refusee"
    assert "Le signataire n'est pas le bon." in message.body
    # sent again: a new request; canceled in Yousign, it is to send again too
    convention.envoyer(db.get(Candidature, candidature.id), actor=desk.me)
    db.commit()
    second = _convention(candidature).signature_request_id
    assert second not in (None, first)
    assert _hook(client, "canceled", second).json["status"] == "processed"
    assert _status(candidature) == "a_envoyer"
    assert _events(candidature)[-1] == "convention.annulee"
    convention.envoyer(db.get(Candidature, candidature.id), actor=desk.me)
    db.commit()
    third = _convention(candidature).signature_request_id
    assert _hook(client, "expired", third).json["status"] == "processed"
    assert _status(candidature) == "expiree"
    # an event about an old request changes nothing
    assert _hook(client, "done", first).json == {"status": "ignored"}
    assert _status(candidature) == "expiree"


def test_the_admins_template_makes_the_convention(desk, yousign) -> None:  # noqa: F811
    candidature = _at_convention(desk)
    template = db.get(MessageTemplate, "convention.document")  # loaded with the reference data
    template.subject = "Accord {reference}"
    template.body = ("Signé par {signataire} ({fonction}) pour {organisation}.\n\n"
                     "{inconnu} reste visible.")
    convention.envoyer(candidature, actor=desk.me)
    db.commit()
    text = " ".join(_text(yousign.documents[_convention(candidature).signature_request_id])
                    .split())
    assert f"Accord {candidature.reference}" in text
    assert "Signé par Paul Durand (contact de la candidature) pour Careoptim." in text
    assert "{inconnu} reste visible." in text


def test_no_signer_no_sending(desk, yousign) -> None:  # noqa: F811
    candidature = _at_convention(desk)
    for form in db.scalars(select(StepForm).where(StepForm.candidature_id == candidature.id)):
        form.data = {**form.data, "contact": {"nom": "Durand", "email": ""}}
    db.commit()
    response = _post(desk, f"/instruction/candidatures/{candidature.reference}/convention/envoyer")
    assert "Aucun signataire connu" in response.get_data(as_text=True)
    assert _status(candidature) == "a_envoyer" and yousign.calls == []


def test_manual_signature_needs_a_pdf(desk) -> None:
    candidature = _at_convention(desk)
    base = f"/instruction/candidatures/{candidature.reference}"
    without_yousign = _post(desk, f"{base}/convention/envoyer")
    assert "Yousign n&#39;est pas configuré" in without_yousign.get_data(as_text=True) or \
        "Yousign n'est pas configuré" in without_yousign.get_data(as_text=True)
    _post(desk, f"{base}/convention/envoyer", signature_request_id="sr-saisi-main")
    token = csrf_token(desk.client, "/")
    bad = desk.client.post(f"{base}/convention/signature", content_type="multipart/form-data",
                           data={"fichier": (io.BytesIO(b"pas un pdf"), "c.pdf"),
                                 "csrf_token": token}, follow_redirects=True)
    assert "Type de fichier non accepté" in bad.get_data(as_text=True)
    good = desk.client.post(f"{base}/convention/signature", content_type="multipart/form-data",
                            data={"fichier": (io.BytesIO(PDF), "convention-signee.pdf"),
                                  "csrf_token": token}, follow_redirects=True)
    assert "La signature est enregistrée." in good.get_data(as_text=True)
    assert _status(candidature) == "signee"
    assert _convention(candidature).signed_fichier_id is not None


def test_sendings_and_downloads_left_behind_are_queued_again(desk, yousign, client) -> None:  # noqa: F811
    from datetime import timedelta

    from backoffice.db import utcnow
    from jobs import conventions

    candidature = _at_convention(desk)
    db().info.setdefault(_PENDING, [])
    convention.envoyer(candidature, actor=desk.me)
    db().info.pop(_PENDING)  # the job is lost (a killed worker)
    db.commit()
    assert yousign.calls == [] and _convention(candidature).sending
    assert conventions.rattraper(30) == 0  # too recent: maybe still in its queue
    found = _convention(candidature)
    found.sent_at = utcnow() - timedelta(minutes=31)
    db.commit()
    assert conventions.rattraper(30) == 1
    found = _convention(candidature)
    assert found.signature_request_id is not None and not found.sending
    assert conventions.rattraper(30) == 0  # sent: nothing more to do
