"""Idempotency-Key on POST: a retried request gets the first answer again, once it
succeeded; the same key with another request is refused (422 `idempotency_key_reused`).

"The same request" is decided on its content, not on its look: the fingerprint covers the
method, the path and query, and the body's bytes — for multipart, every field and each
file's name, type, size and SHA-256 — so a retry with other bytes under the same key is
refused instead of silently answered with the first upload's result.

Two requests with one key at the same time: the first to insert the key's row holds it
(unique constraint, in the request's transaction) until it commits; the other waits on
that insert (PostgreSQL) or on the write lock (SQLite), then answers the first's stored
answer. Nothing is processed twice. A request that fails leaves no row: its key may be
used again."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from backoffice.api.errors import ApiError
from backoffice.db import db
from backoffice.models import IdempotencyKey

HEADER = "Idempotency-Key"
IN_PROGRESS = 0  # status_code of a key whose request has not answered yet
_CHUNK = 1024 * 1024


def _file_fingerprint(upload: FileStorage) -> dict[str, Any]:
    stream = upload.stream
    digest, size = getattr(stream, "digest", None), getattr(stream, "size", None)
    if digest is not None and size is not None:
        # the store's IncomingFile hashed the bytes as the parser wrote them
        sha256 = digest.hexdigest()
    else:
        position, hasher, size = stream.tell(), hashlib.sha256(), 0
        stream.seek(0)
        while block := stream.read(_CHUNK):
            hasher.update(block)
            size += len(block)
        stream.seek(position)
        sha256 = hasher.hexdigest()
    return {"filename": upload.filename, "content_type": upload.content_type,
            "size": size, "sha256": sha256}


def request_fingerprint() -> str:
    """SHA-256 of what the request asks: method, path and query, and its body's content."""
    parts: dict[str, Any] = {"method": request.method, "path": request.path,
                             "query": request.query_string.decode("latin-1")}
    if request.mimetype.startswith("multipart/"):
        parts["fields"] = sorted(([k, v] for k, v in request.form.items(multi=True)), key=repr)
        parts["files"] = sorted(([name, _file_fingerprint(f)]
                                 for name, f in request.files.items(multi=True)), key=repr)
    else:  # JSON and anything else: the bytes as sent (capped at FORM_BODY_LIMIT)
        parts["content_type"] = request.mimetype
        parts["body_sha256"] = hashlib.sha256(request.get_data(cache=True)).hexdigest()
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _stored(key: str) -> IdempotencyKey | None:
    return db.scalar(select(IdempotencyKey).where(
        IdempotencyKey.organisation_id == g.organisation.id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True))


def _answer(seen: IdempotencyKey, digest: str):
    if seen.request_hash != digest:
        raise ApiError(422, "idempotency_key_reused",
                       "Cette clé d'idempotence a déjà servi pour une autre requête.")
    if seen.status_code == IN_PROGRESS:
        raise ApiError(409, "idempotency_key_in_progress",
                       "Une requête portant cette clé d'idempotence est en cours de "
                       "traitement : réessayez dans un instant.")
    response = jsonify(seen.body)
    response.status_code = seen.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _hold(key: str, digest: str) -> IdempotencyKey | None:
    """Insert the key's row (in progress) in this request's transaction; None if another
    request committed it first (then it is read again by the caller)."""
    row = IdempotencyKey(organisation_id=g.organisation.id, key=key, request_hash=digest,
                         status_code=IN_PROGRESS, body={})
    try:
        with db.begin_nested():
            db.add(row)
    except IntegrityError:
        return None
    return row


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
        digest = request_fingerprint()
        seen = _stored(key)
        if seen is None:
            held = _hold(key, digest)
            if held is None:  # a concurrent request with this key committed meanwhile
                seen = _stored(key)
                if seen is None:
                    raise ApiError(409, "idempotency_key_in_progress",
                                   "Une requête portant cette clé d'idempotence est en "
                                   "cours de traitement : réessayez dans un instant.")
            else:
                g.idempotency = held
                return view(*args, **kwargs)
        return _answer(seen, digest)

    return wrapped


def remember(status: int, body: Any) -> None:
    """Called by `respond` before the commit: the answer lands with the work."""
    held: IdempotencyKey | None = g.pop("idempotency", None)
    if held is None:
        return
    if 200 <= status < 300:
        held.status_code, held.body = status, body
    else:  # not a success: the key stays free for a corrected request
        db.delete(held)
