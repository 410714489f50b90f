"""A local fake of Yousign's v3 API, speaking the endpoints backoffice.yousign uses: create a
signature request, upload its document, add a signer, activate, download the signed
document and the signer's audit trail. `fail` queues answers to give first (429, 503…),
to exercise the client's retries."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from backoffice.demo_files import one_page_pdf

SIGNED_PDF = one_page_pdf("Convention signée", "Signée par Paul Durand")
AUDIT_TRAIL_PDF = one_page_pdf("Dossier de preuve Yousign", "Signature électronique OTP e-mail")


class FakeYousign:
    def __init__(self, key: str) -> None:
        self.key = key
        self.calls: list[tuple[str, str, bool]] = []
        self.documents: dict[str, bytes] = {}  # request id -> uploaded PDF
        self.signers: dict[str, dict[str, Any]] = {}  # request id -> signer body
        self.requests: dict[str, dict[str, Any]] = {}  # request id -> creation body
        self.fail: list[int] = []  # statuses to answer first, one per call

    def _json(self, body: Any, status: int = 201) -> Response:
        return Response(json.dumps(body), status, content_type="application/json")

    def answer(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return self._json({"detail": "Unauthorized"}, 401)
        self.calls.append((request.method, request.path, request.files.get("file") is not None))
        if self.fail:
            status = self.fail.pop(0)
            response = self._json({"detail": "busy"}, status)
            if status == 429:
                response.headers["Retry-After"] = "0"
            return response
        parts = request.path.strip("/").removeprefix("v3/").split("/")
        if parts == ["signature_requests"] and request.method == "POST":
            request_id = f"sr-{uuid.uuid4().hex[:8]}"
            self.requests[request_id] = request.get_json()
            return self._json({"id": request_id, "status": "draft",
                               "name": request.get_json()["name"]})
        request_id = parts[1] if len(parts) > 1 else ""
        if request_id not in self.requests:
            return self._json({"detail": "Not found"}, 404)
        if parts[2:] == ["documents"]:
            self.documents[request_id] = request.files["file"].read()
            return self._json({"id": f"doc-{request_id}", "nature": request.form["nature"]})
        if parts[2:] == ["signers"]:
            self.signers[request_id] = request.get_json()
            return self._json({"id": f"signer-{request_id}",
                               "info": request.get_json()["info"]})
        if parts[2:] == ["activate"]:
            return self._json({"id": request_id, "status": "ongoing"})
        if parts[2:] == ["documents", f"doc-{request_id}", "download"]:
            return Response(SIGNED_PDF, 200, content_type="application/pdf")
        if parts[2:] == ["signers", f"signer-{request_id}", "audit_trails", "download"]:
            return Response(AUDIT_TRAIL_PDF, 200, content_type="application/pdf")
        return self._json({"detail": "Not found"}, 404)

    def __call__(self, environ, start_response):
        return self.answer(Request(environ))(environ, start_response)


@pytest.fixture
def yousign(app) -> Iterator[FakeYousign]:
    fake = FakeYousign("cle-de-test")
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    saved = {k: app.config.get(k) for k in (
        "YOUSIGN_API_URL", "YOUSIGN_API_KEY", "YOUSIGN_WEBHOOK_SECRET",
        "YOUSIGN_WEBHOOK_SECRET_PREVIOUS", "YOUSIGN_BACKOFF_SECONDS")}
    app.config.update(YOUSIGN_API_URL=f"http://127.0.0.1:{server.server_port}/v3",
                      YOUSIGN_API_KEY="cle-de-test", YOUSIGN_WEBHOOK_SECRET="secret-webhook",
                      YOUSIGN_BACKOFF_SECONDS=0)
    yield fake
    app.config.update(saved)
    server.shutdown()
