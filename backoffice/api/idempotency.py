"""Idempotency-Key on POST: a retried request gets the first answer again, once it
succeeded; the same key with another request is refused."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import g, jsonify, request
from sqlalchemy import select

from backoffice.api.errors import ApiError
from backoffice.db import db
from backoffice.models import IdempotencyKey

HEADER = "Idempotency-Key"


def _request_hash() -> str:
    parts: list[Any] = [request.method, request.path]
    if request.is_json:
        parts.append(request.get_json(silent=True))
    else:
        parts.append(sorted(request.form.items(multi=True), key=repr))
        parts.append(sorted(((k, f.filename) for k, f in request.files.items(multi=True)),
                            key=repr))
        parts.append(request.content_length)
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not 1 <= len(key) <= 200:
            raise ApiError(422, "invalid_idempotency_key",
                           "La clé d'idempotence doit faire de 1 à 200 caractères.")
        digest = _request_hash()
        seen = db.scalar(select(IdempotencyKey).where(
            IdempotencyKey.organisation_id == g.organisation.id, IdempotencyKey.key == key))
        if seen is not None:
            if seen.request_hash != digest:
                raise ApiError(422, "idempotency_key_reused",
                               "Cette clé d'idempotence a déjà servi pour une autre requête.")
            response = jsonify(seen.body)
            response.status_code = seen.status_code
            response.headers["Idempotent-Replayed"] = "true"
            return response
        g.idempotency = (key, digest)
        return view(*args, **kwargs)

    return wrapped


def remember(status: int, body: Any) -> None:
    """Called by `respond` before the commit: the answer lands with the work."""
    pending = g.pop("idempotency", None)
    if pending is not None and 200 <= status < 300:
        key, digest = pending
        db.add(IdempotencyKey(organisation_id=g.organisation.id, key=key, request_hash=digest,
                              status_code=status, body=body))
