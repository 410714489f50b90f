"""A small client of Yousign's API (v3): create a signature request for the convention,
upload the document, add the signer, activate. Configured by YOUSIGN_API_URL and
YOUSIGN_API_KEY; the tests run it against a local fake server speaking the same API."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from flask import current_app


class YousignError(Exception):
    pass


@dataclass(frozen=True)
class Signer:
    first_name: str
    last_name: str
    email: str


def configured() -> bool:
    return bool(current_app.config.get("YOUSIGN_API_URL") and
                current_app.config.get("YOUSIGN_API_KEY"))


def _call(method: str, path: str, **kwargs) -> dict:  # noqa: ANN003
    base = current_app.config["YOUSIGN_API_URL"].rstrip("/")
    headers = {"Authorization": f"Bearer {current_app.config['YOUSIGN_API_KEY']}"}
    try:
        response = requests.request(method, f"{base}{path}", headers=headers, timeout=20,
                                    **kwargs)
    except requests.RequestException as error:
        raise YousignError(f"Yousign injoignable : {error}") from error
    if response.status_code >= 400:
        raise YousignError(f"Yousign a refusé la demande ({response.status_code}).")
    return response.json() if response.content else {}


def create_signature_request(name: str, document: bytes, filename: str,
                             signer: Signer) -> str:
    """Return the id of an activated signature request for `document`."""
    request = _call("POST", "/signature_requests",
                    json={"name": name, "delivery_mode": "email", "timezone": "Europe/Paris"})
    request_id = request["id"]
    document_id = _call("POST", f"/signature_requests/{request_id}/documents",
                        files={"file": (filename, document, "application/pdf")},
                        data={"nature": "signable_document"})["id"]
    _call("POST", f"/signature_requests/{request_id}/signers", json={
        "info": {"first_name": signer.first_name, "last_name": signer.last_name,
                 "email": signer.email, "locale": "fr"},
        "signature_level": "electronic_signature", "signature_authentication_mode": "otp_email",
        "fields": [{"type": "signature", "document_id": document_id, "page": 1,
                    "x": 77, "y": 581}],
    })
    _call("POST", f"/signature_requests/{request_id}/activate")
    return request_id
