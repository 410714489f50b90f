"""Yousign webhook: signed with a shared secret (HMAC-SHA256 of the raw body, header
X-Yousign-Signature-256: sha256=<hex>), replay-safe (each event_id is processed once)."""

from __future__ import annotations

import hashlib
import hmac

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
SIGNATURE_HEADER = "X-Yousign-Signature-256"
EVENTS = {
    "signature_request.done": convention.marquer_signee,
    "signature_request.expired": convention.marquer_expiree,
    "signature_request.declined": convention.marquer_refusee,
}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@bp.post("/webhooks/yousign")
@public
def yousign_webhook():  # noqa: ANN201
    secret = current_app.config.get("YOUSIGN_WEBHOOK_SECRET")
    if not secret:
        raise ApiError(503, "webhook_not_configured", "Webhook Yousign non configuré.")
    if (request.content_length or 0) > MAX_BODY:
        raise ApiError(413)
    body = request.get_data(cache=False)
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(given.encode(), sign(secret, body).encode()):
        raise ApiError(401, "invalid_signature", "Signature du webhook invalide.")
    try:
        payload = parse_json(body)
        event_id = str(payload["event_id"])
        event_name = str(payload["event_name"])
        request_id = str(payload["data"]["signature_request"]["id"])
    except (ApiError, KeyError, TypeError) as exc:
        raise ApiError(422, "invalid_payload", "Événement Yousign illisible.") from exc
    try:
        with db.begin_nested():
            db.add(WebhookEvent(provider="yousign", event_id=event_id))
    except IntegrityError:
        db.rollback()
        return respond({"status": "duplicate"}, commit=False)
    transition = EVENTS.get(event_name)
    reference = db.scalar(select(Candidature.reference).join(
        Convention, Convention.candidature_id == Candidature.id).where(
        Convention.signature_request_id == request_id))
    if transition is None or reference is None:
        return respond({"status": "ignored"})
    candidature = load_for_update(reference)
    try:
        transition(candidature, actor=Systeme("webhook Yousign"))
    except TransitionError as error:
        # Already handled by hand, or a late event: keep the event id, change nothing else.
        db.rollback()
        db.add(WebhookEvent(provider="yousign", event_id=event_id))
        return respond({"status": "ignored", "reason": error.code})
    return respond({"status": "processed", "reference": reference})
