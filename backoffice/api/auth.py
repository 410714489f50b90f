"""Organisation tokens: `Authorization: Bearer cvg_…`, stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import g, request
from sqlalchemy import select

from backoffice.api import bp
from backoffice.api.errors import ApiError
from backoffice.db import db, utcnow
from backoffice.models import ApiToken, Organisation
from backoffice.workflow.base import Industriel

PUBLIC_ENDPOINTS = {"api.openapi_document", "api.yousign_webhook"}


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@bp.before_request
def authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401)
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw.strip()),
                                             ApiToken.revoked_at.is_(None)))
    if token is None:
        raise ApiError(401)
    now = utcnow()
    # Recording every use would write on each read; once a minute is enough.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    g.organisation = db.get(Organisation, token.organisation_id)
    g.api_token_id = token.id


def organisation() -> Organisation:
    return g.organisation


def industriel() -> Industriel:
    return Industriel(g.organisation)


def token_required(view):
    """Declares (for the access test) what before_request enforces: an organisation token."""
    view.access = ("token", ())
    return view
