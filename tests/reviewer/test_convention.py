"""The convention panel: sent through Yousign's API (a local fake server speaking it),
signed by webhook or by hand with the signed PDF, validated."""

from __future__ import annotations

import io
import json
import threading
import uuid

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from backoffice.api.webhooks import sign
from backoffice.db import db
from backoffice.models import Candidature, Convention
from backoffice.workflow import forms
from tests.api.conftest import PDF
from tests.helpers import csrf_token


class FakeYousign:
    """Yousign's v3 endpoints used by backoffice.yousign, with their JSON answers."""

    def __init__(self, key: str) -> None:
        self.key, self.calls = key, []

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        request = Request(environ)
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return Response(json.dumps({"detail": "Unauthorized"}), 401,
                            content_type="application/json")(environ, start_response)
        parts = request.path.strip("/").removeprefix("v3/").split("/")
        self.calls.append((request.method, request.path, request.files.get("file") is not None))
        if parts == ["signature_requests"]:
            body = {"id": f"sr-{uuid.uuid4().hex[:8]}", "status": "draft",
                    "name": request.get_json()["name"]}
        elif parts[-1] == "documents":
            body = {"id": "doc-1", "nature": request.form["nature"]}
        elif parts[-1] == "signers":
            body = {"id": "signer-1", "info": request.get_json()["info"]}
        elif parts[-1] == "activate":
            body = {"id": parts[1], "status": "ongoing"}
        else:
            return Response("{}", 404, content_type="application/json")(environ, start_response)
        return Response(json.dumps(body), 201, content_type="application/json")(
            environ, start_response)


@pytest.fixture
def yousign(app):  # noqa: ANN001, ANN201
    fake = FakeYousign("cle-de-test")
    server = make_server("127.0.0.1", 0, fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config.update(YOUSIGN_API_URL=f"http://127.0.0.1:{server.server_port}/v3",
                      YOUSIGN_API_KEY="cle-de-test", YOUSIGN_WEBHOOK_SECRET="secret-webhook")
    yield fake
    app.config.update(YOUSIGN_API_URL=None, YOUSIGN_API_KEY=None, YOUSIGN_WEBHOOK_SECRET=None)
    server.shutdown()


def _at_convention(desk) -> Candidature:  # noqa: ANN001
    candidature = desk.candidature()
    forms.prendre(candidature, "recevabilite", actor=desk.me)
    forms.valider(candidature, "recevabilite", actor=desk.me)
    db.commit()
    return candidature


def _post(desk, path, **data):  # noqa: ANN001, ANN003, ANN202
    return desk.client.post(path, data={**data, "csrf_token": csrf_token(desk.client, "/")},
                            follow_redirects=True)


def test_send_through_yousign_sign_by_webhook_and_validate(desk, yousign, client) -> None:  # noqa: ANN001
    candidature = _at_convention(desk)
    base = f"/instruction/candidatures/{candidature.reference}"
    response = _post(desk, f"{base}/convention/envoyer")
    assert "La convention est envoyée pour signature." in response.get_data(as_text=True)
    assert [c[1].rsplit("/", 1)[-1] for c in yousign.calls] == [
        "signature_requests", "documents", "signers", "activate"]
    assert yousign.calls[1][2] is True  # the PDF was uploaded
    db.expire_all()
    convention = db.scalar(select_convention(candidature))
    assert convention.signature_request_id.startswith("sr-")
    payload = json.dumps({"event_id": "e-1", "event_name": "signature_request.done",
                          "data": {"signature_request": {"id": convention.signature_request_id}}
                          }).encode()
    hook = client.post("/api/v1/webhooks/yousign", data=payload, content_type="application/json",
                       headers={"X-Yousign-Signature-256": sign("secret-webhook", payload)})
    assert hook.json["status"] == "processed"
    page = desk.client.get(base).get_data(as_text=True)
    assert "Valider la convention" in page
    response = _post(desk, f"{base}/convention/valider")
    assert "le dépôt des preuves est ouvert" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Candidature, candidature.id).current_step == "preuves"


def select_convention(candidature):  # noqa: ANN001, ANN201
    from sqlalchemy import select

    return select(Convention).where(Convention.candidature_id == candidature.id)


def test_yousign_down_changes_nothing(desk, yousign, app) -> None:  # noqa: ANN001
    candidature = _at_convention(desk)
    app.config["YOUSIGN_API_URL"] = "http://127.0.0.1:9/v3"  # nothing listens there
    response = _post(desk, f"/instruction/candidatures/{candidature.reference}/convention/envoyer")
    assert "Yousign injoignable" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Candidature, candidature.id).step("convention").status == "a_envoyer"


def test_manual_signature_needs_a_pdf(desk) -> None:  # noqa: ANN001
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
    db.expire_all()
    assert db.get(Candidature, candidature.id).step("convention").status == "signee"
    assert db.scalar(select_convention(candidature)).signed_fichier_id is not None
