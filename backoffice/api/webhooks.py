"""Yousign webhook: signed with a shared secret (HMAC-SHA256 of the raw body, header
X-Yousign-Signature-256: sha256=<hex>), replay-safe (each event_id is processed once).

During a rotation of the secret, the one in YOUSIGN_WEBHOOK_SECRET_PREVIOUS is accepted
too (docs/operations.md). Input is checked before anything is written: bad JSON, a missing
or over-long id, an event this endpoint does not handle → 400 with a stable code."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice.api import bp
from backoffice.api.errors import ApiError
from backoffice.api.respond import respond
from backoffice.api.validation import parse_json
from backoffice.auth.access import public
from backoffice.db import db
from backoffice.models import Candidature, Convention, WebhookEvent
from backoffice.workflow import convention
from backoffice.workflow.base import Systeme, TransitionError, load_for_update

MAX_BODY = 64 * 1024
MAX_ID = 100  # webhook_event.event_id and convention.signature_request_id
SIGNATURE_HEADER = "X-Yousign-Signature-256"
EVENTS = {
    "signature_request.done": convention.marquer_signee,
    "signature_request.expired": convention.marquer_expiree,
    "signature_request.declined": convention.marquer_refusee,
    "signature_request.canceled": convention.marquer_annulee,
}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def secrets() -> list[str]:
    """The current secret first, then the previous one while a rotation lasts."""
    config = current_app.config
    return [s for s in (config.get("YOUSIGN_WEBHOOK_SECRET"),
                        config.get("YOUSIGN_WEBHOOK_SECRET_PREVIOUS")) if s]


def _signed_by_one_of(keys: list[str], given: str, body: bytes) -> bool:
    # every key is compared, so the time taken does not tell which one matched
    matches = [hmac.compare_digest(given.encode(), sign(key, body).encode()) for key in keys]
    return any(matches)


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_payload", message)


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _invalid(f"Événement Yousign illisible : {what} absent.")
    text = str(value).strip()
    if not text or len(text) > MAX_ID or not text.isprintable():
        raise _invalid(f"Événement Yousign illisible : {what} invalide "
                       f"(1 à {MAX_ID} caractères).")
    return text


def _event(body: bytes) -> tuple[str, str, str, dict]:
    """(event_id, event_name, signature request id, the request's object)."""
    try:
        payload = parse_json(body)
    except ApiError as exc:
        raise ApiError(400, "invalid_json", "Le corps de l'événement n'est pas un JSON "
                                            "valide.") from exc
    if not isinstance(payload, dict):
        raise _invalid("Événement Yousign illisible : un objet JSON est attendu.")
    event_id = _identifier(payload.get("event_id"), "event_id")
    event_name = payload.get("event_name")
    if event_name not in EVENTS:
        raise ApiError(400, "unknown_event", "Événement Yousign non pris en charge.",
                       accepted=sorted(EVENTS))
    data = payload.get("data")
    signature_request = data.get("signature_request") if isinstance(data, dict) else None
    if not isinstance(signature_request, dict):
        raise _invalid("Événement Yousign illisible : data.signature_request absent.")
    request_id = _identifier(signature_request.get("id"), "data.signature_request.id")
    return event_id, event_name, request_id, signature_request


def _motif(signature_request: dict) -> str | None:
    """The signer's reason for declining (Yousign: decline_information.reason)."""
    information = signature_request.get("decline_information")
    reason = information.get("reason") if isinstance(information, dict) else None
    return reason if isinstance(reason, str) else None


@bp.post("/webhooks/yousign")
@public
def yousign_webhook():
    keys = secrets()
    if not keys:
        raise ApiError(503, "webhook_not_configured", "Webhook Yousign non configuré.")
    if (request.content_length or 0) > MAX_BODY:
        raise ApiError(413)
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY:
        raise ApiError(413)
    if not _signed_by_one_of(keys, request.headers.get(SIGNATURE_HEADER, ""), body):
        raise ApiError(401, "invalid_signature", "Signature du webhook invalide.")
    event_id, event_name, request_id, signature_request = _event(body)
    try:
        with db.begin_nested():
            db.add(WebhookEvent(provider="yousign", event_id=event_id))
    except IntegrityError:
        db.rollback()
        return respond({"status": "duplicate"}, commit=False)
    transition = EVENTS[event_name]
    reference = db.scalar(select(Candidature.reference).join(
        Convention, Convention.candidature_id == Candidature.id).where(
        Convention.signature_request_id == request_id))
    if reference is None:
        return respond({"status": "ignored"})
    candidature = load_for_update(reference)
    extra = {"motif": _motif(signature_request)} if transition is convention.marquer_refusee \
        else {}
    try:
        transition(candidature, actor=Systeme("webhook Yousign"), **extra)
    except TransitionError as error:
        # Already handled by hand, or a late event: keep the event id, change nothing else.
        db.rollback()
        db.add(WebhookEvent(provider="yousign", event_id=event_id))
        return respond({"status": "ignored", "reason": error.code})
    return respond({"status": "processed", "reference": reference})
