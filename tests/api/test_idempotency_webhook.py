from __future__ import annotations

import json

from sqlalchemy import func, select

from backoffice.api.webhooks import sign
from backoffice.db import db
from backoffice.models import Candidature, Product, WebhookEvent
from backoffice.workflow import convention
from tests.api.conftest import PRODUCT, ans
from tests.workflow.conftest import REFERENTIEL  # noqa: F401 - same data file


def test_idempotency_key_replays_the_first_answer(world) -> None:
    headers = {"Idempotency-Key": "cle-1"}
    first = world.api.post("/products", PRODUCT, headers=headers)
    again = world.api.post("/products", PRODUCT, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.scalar(select(func.count()).select_from(Product)) == 1
    other = world.api.post("/products", {**PRODUCT, "name": "Autre"}, headers=headers)
    assert other.status_code == 422 and other.json["code"] == "idempotency_key_reused"
    # keys belong to an organisation: another one may use the same key
    assert world.other.post("/products", PRODUCT, headers=headers).status_code == 201


def test_failed_request_does_not_burn_its_key(world) -> None:
    headers = {"Idempotency-Key": "cle-2"}
    bad = world.api.post("/products", {**PRODUCT, "type": "x"}, headers=headers)
    assert bad.status_code == 422
    good = world.api.post("/products", PRODUCT, headers=headers)
    assert good.status_code == 201


def _sent(world, app):
    from backoffice.workflow import forms

    reference = world.api.open("dmn_nom_de_marque")
    world.api.fill(reference, "recevabilite", ["documentation_fonctionnelle",
                                               "attestation_protection_donnees",
                                               "declaration_marquage_ce",
                                               "reglement_phase_transitoire"], ["GEN"])
    world.api.post(f"/candidatures/{reference}/steps/recevabilite/submit")
    ans(reference, forms.prendre, "recevabilite", actor=world.dmn_verif)
    ans(reference, forms.valider, "recevabilite", actor=world.dmn_verif)
    ans(reference, convention.envoyer, actor=world.dmn_verif, signature_request_id="sr-42")
    app.config["YOUSIGN_WEBHOOK_SECRET"] = "secret-partage"
    return reference


def _hook(client, payload, secret="secret-partage", signature=None):
    body = json.dumps(payload).encode()
    return client.post("/api/v1/webhooks/yousign", data=body, content_type="application/json",
                       headers={"X-Yousign-Signature-256": signature or sign(secret, body)})


def test_yousign_webhook_signs_the_convention_once(app, client, world) -> None:
    reference = _sent(world, app)
    try:
        payload = {"event_id": "evt-1", "event_name": "signature_request.done",
                   "data": {"signature_request": {"id": "sr-42"}}}
        forged = _hook(client, payload, secret="pas-le-secret")
        assert forged.status_code == 401 and forged.json["code"] == "invalid_signature"
        assert _hook(client, payload, signature="sha256=").status_code == 401
        db.expire_all()
        candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
        assert candidature.step("convention").status == "envoyee"
        response = _hook(client, payload)
        assert response.json == {"status": "processed", "reference": reference}
        db.expire_all()
        assert candidature.step("convention").status == "signee"
        replay = _hook(client, payload)
        assert replay.json == {"status": "duplicate"}
        late = _hook(client, {**payload, "event_id": "evt-2",
                              "event_name": "signature_request.expired"})
        assert late.json == {"status": "ignored", "reason": "invalid_status"}
        db.expire_all()
        assert candidature.step("convention").status == "signee"
    finally:
        app.config["YOUSIGN_WEBHOOK_SECRET"] = None


def test_webhook_refuses_garbage_with_a_400_and_a_code(app, client, world) -> None:
    _sent(world, app)
    done = {"event_id": "e9", "event_name": "signature_request.done",
            "data": {"signature_request": {"id": "sr-42"}}}
    cases = [
        (b"not json", "invalid_json"),
        (b"[1, 2]", "invalid_payload"),
        (json.dumps({**done, "event_id": "e" * 101}).encode(), "invalid_payload"),
        (json.dumps({**done, "event_id": ""}).encode(), "invalid_payload"),
        (json.dumps({**done, "event_id": ["e9"]}).encode(), "invalid_payload"),
        (json.dumps({**done, "event_name": "signature_request.reactivated"}).encode(),
         "unknown_event"),
        (json.dumps({**done, "data": {"signature_request": {"id": "s" * 101}}}).encode(),
         "invalid_payload"),
        (json.dumps({**done, "data": "sr-42"}).encode(), "invalid_payload"),
    ]
    try:
        for body, code in cases:
            response = client.post("/api/v1/webhooks/yousign", data=body,
                                   content_type="application/json",
                                   headers={"X-Yousign-Signature-256":
                                            sign("secret-partage", body)})
            assert (response.status_code, response.json["code"]) == (400, code), body[:40]
        db.expire_all()
        assert db.scalar(select(func.count()).select_from(WebhookEvent)) == 0
        unknown = _hook(client, {**done, "data": {"signature_request": {"id": "inconnu"}}})
        assert unknown.json == {"status": "ignored"}
    finally:
        app.config["YOUSIGN_WEBHOOK_SECRET"] = None
    assert _hook(client, {"event_id": "x"}).status_code == 503


def test_webhook_accepts_the_previous_secret_during_a_rotation(app, client, world) -> None:
    reference = _sent(world, app)
    app.config.update(YOUSIGN_WEBHOOK_SECRET="nouveau-secret",
                      YOUSIGN_WEBHOOK_SECRET_PREVIOUS="secret-partage")
    try:
        payload = {"event_id": "evt-r1", "event_name": "signature_request.done",
                   "data": {"signature_request": {"id": "sr-42"}}}
        assert _hook(client, payload, secret="autre").status_code == 401
        assert _hook(client, payload).json == {"status": "processed", "reference": reference}
        replay = {**payload, "event_id": "evt-r2"}
        assert _hook(client, replay, secret="nouveau-secret").json["status"] == "ignored"
        app.config["YOUSIGN_WEBHOOK_SECRET_PREVIOUS"] = None  # rotation over
        assert _hook(client, {**payload, "event_id": "evt-r3"}).status_code == 401
    finally:
        app.config.update(YOUSIGN_WEBHOOK_SECRET=None, YOUSIGN_WEBHOOK_SECRET_PREVIOUS=None)
