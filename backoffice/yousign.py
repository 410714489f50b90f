"""A small client of Yousign's API (v3): create a signature request for the convention
(upload the document, add the signer with a signature field, activate), then download the
signed document and the signer's audit trail. Configured by YOUSIGN_API_URL and
YOUSIGN_API_KEY; the tests run it against a local fake server speaking the same API.

Only jobs call it (jobs/conventions.py), never a request holding a row lock. A 429 or 5xx
answer, or a connection failure, is retried YOUSIGN_RETRIES times with an exponential
backoff (YOUSIGN_BACKOFF_SECONDS, doubled each time; a Retry-After header is honoured up
to MAX_WAIT); any other refusal is final."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import requests
from flask import current_app

log = logging.getLogger(__name__)

MAX_WAIT = 60.0  # seconds: the longest a Retry-After header makes us wait
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class YousignError(Exception):
    """`retryable`: a later attempt may succeed (Yousign busy or unreachable)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Signer:
    first_name: str
    last_name: str
    email: str
    phone: str | None = None  # E.164 (+33…), or None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class SignatureRequest:
    id: str
    document_id: str
    signer_id: str


@dataclass(frozen=True)
class SignatureField:
    """Where the signer signs, in points from the page's top-left corner (Yousign's
    convention), on a 1-based page."""

    page: int
    x: int
    y: int
    width: int = 200
    height: int = 70


def configured() -> bool:
    return bool(current_app.config.get("YOUSIGN_API_URL") and
                current_app.config.get("YOUSIGN_API_KEY"))


def e164(phone: str | None) -> str | None:
    """A French number as Yousign wants it (+33…), or None when it is not one."""
    digits = re.sub(r"[\s.\-()]", "", phone or "")
    if re.fullmatch(r"\+\d{8,15}", digits):
        return digits
    if re.fullmatch(r"0\d{9}", digits):
        return "+33" + digits[1:]
    return None


def _wait(attempt: int, response: requests.Response | None) -> float:
    base = float(current_app.config.get("YOUSIGN_BACKOFF_SECONDS", 1.0))
    delay = base * (2 ** attempt)
    retry_after = response.headers.get("Retry-After", "") if response is not None else ""
    if retry_after.isdigit():
        delay = max(delay, float(retry_after))
    return min(delay, MAX_WAIT)


def _send(method: str, path: str, **kwargs) -> requests.Response:
    base = current_app.config["YOUSIGN_API_URL"].rstrip("/")
    headers = {"Authorization": f"Bearer {current_app.config['YOUSIGN_API_KEY']}"}
    retries = int(current_app.config.get("YOUSIGN_RETRIES", 3))
    for attempt in range(retries + 1):
        response = None
        try:
            response = requests.request(method, f"{base}{path}", headers=headers, timeout=20,
                                        **kwargs)
        except requests.RequestException as error:
            failure = YousignError(f"Yousign injoignable : {type(error).__name__}.",
                                   retryable=True)
        else:
            if response.status_code < 400:
                return response
            failure = YousignError(f"Yousign a refusé la demande ({response.status_code}).",
                                   retryable=response.status_code in RETRIED_STATUSES)
        if not failure.retryable or attempt == retries:
            raise failure
        delay = _wait(attempt, response)
        log.warning("Yousign %s %s: %s; new attempt in %.1f s", method, path, failure, delay)
        time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _call(method: str, path: str, **kwargs) -> dict:
    response = _send(method, path, **kwargs)
    try:
        return response.json() if response.content else {}
    except ValueError as error:
        raise YousignError("Réponse de Yousign illisible.") from error


def create_signature_request(name: str, document: bytes, filename: str, signer: Signer,
                             field: SignatureField, external_id: str | None = None,
                             ) -> SignatureRequest:
    """An activated signature request for `document`, signed by `signer` at `field`."""
    body = {"name": name, "delivery_mode": "email", "timezone": "Europe/Paris"}
    if external_id:
        body["external_id"] = external_id
    request_id = str(_call("POST", "/signature_requests", json=body)["id"])
    document_id = str(_call("POST", f"/signature_requests/{request_id}/documents",
                            files={"file": (filename, document, "application/pdf")},
                            data={"nature": "signable_document"})["id"])
    info = {"first_name": signer.first_name, "last_name": signer.last_name,
            "email": signer.email, "locale": "fr"}
    if signer.phone:
        info["phone_number"] = signer.phone
    signer_id = str(_call("POST", f"/signature_requests/{request_id}/signers", json={
        "info": info,
        "signature_level": "electronic_signature", "signature_authentication_mode": "otp_email",
        "fields": [{"type": "signature", "document_id": document_id, "page": field.page,
                    "x": field.x, "y": field.y, "width": field.width,
                    "height": field.height}],
    })["id"])
    _call("POST", f"/signature_requests/{request_id}/activate")
    return SignatureRequest(request_id, document_id, signer_id)


def download_document(request_id: str, document_id: str) -> bytes:
    """The signed document (PDF), once the request is done."""
    return _send("GET", f"/signature_requests/{request_id}/documents/{document_id}/download"
                 ).content


def download_audit_trail(request_id: str, signer_id: str) -> bytes:
    """Yousign's audit trail (PDF) of the signer: who signed, when, how authenticated."""
    return _send("GET", f"/signature_requests/{request_id}/signers/{signer_id}"
                 "/audit_trails/download").content
