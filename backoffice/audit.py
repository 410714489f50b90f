"""Writing and verifying the audit trail (design.md, "Audit"; docs/security.md, "Audit
trail").

Each row carries the hash of the previous row and its own hash over its content, so a
modified, deleted or inserted row breaks the chain at that point. Since migration 0017
the row's hash is an HMAC-SHA256 keyed with AUDIT_HMAC_KEY, which the database never
sees: someone who can rewrite the table (its owner, a superuser, a stolen dump restored
elsewhere) can no longer recompute a valid chain after changing a row. Older rows keep
their unkeyed SHA-256 (`hash_scheme` 1); the first keyed row chains to the last of them,
so its HMAC covers that history too.

The newest rows are protected by checkpoints (backoffice/audit_checkpoints.py): the id
and hash of the verified head, signed with the key and written outside the database.
`flask verify-audit` starts from the latest checkpoint and reads only the rows after it
(`walk`: keyset on the primary key), so its cost follows the new rows, not the table;
`--full` walks everything and checks every checkpoint on the way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backoffice.db import db, utcnow
from backoffice.models import AuditEvent, Candidature, User

GENESIS = "0" * 64
_CHAIN_LOCK = 7_310_001  # pg_advisory_xact_lock key serialising writers of the chain

LEGACY = 1  # SHA-256 of the content, no key (rows written before migration 0017)
KEYED = 2  # HMAC-SHA256 of the content with the audit key
SCHEMES = (LEGACY, KEYED)
KEY_FILE = "audit_hmac_key"
MIN_KEY_LENGTH = 32


# --- the key ----------------------------------------------------------------------------


class AuditKeyError(RuntimeError):
    """No usable audit key; `message` is for the operator, in French."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _configured_key(app: Flask) -> str | None:
    return app.config.get("AUDIT_HMAC_KEY") or os.environ.get("AUDIT_HMAC_KEY") or None


def _instance_key(app: Flask) -> str:
    """The embedded mode's key: generated once into the instance folder (mode 600), like
    the other instance secrets of config.py."""
    path = Path(app.config["INSTANCE_DIR"]) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process generated it meanwhile: read theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def audit_key(app: Flask | None = None) -> bytes:
    """The master key of the chain and of the checkpoints.

    AUDIT_HMAC_KEY (app config, else the environment); in the embedded mode only, a key
    generated into the instance folder. In production a missing key is refused rather than
    generated: each host would make its own, and the chain would break between them."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    configured = _configured_key(app)
    if configured is None:
        if app.config.get("ENV_NAME") == "production":
            raise AuditKeyError("AUDIT_HMAC_KEY n'est pas défini : en production, la clé du "
                                "journal d'audit vient de l'environnement (la même sur chaque "
                                "hôte).")
        configured = _instance_key(app)
    return configured.encode()


def audit_key_problem(config: dict[str, Any]) -> str | None:
    """For the start-up checks: a French line when production would run without a proper
    audit key, else None."""
    if config.get("ENV_NAME") != "production":
        return None
    value = config.get("AUDIT_HMAC_KEY") or os.environ.get("AUDIT_HMAC_KEY") or ""
    if not value:
        return ("AUDIT_HMAC_KEY manque : la clé du journal d'audit doit venir de "
                "l'environnement en production (identique sur chaque hôte, hors de la base).")
    if len(value) < MIN_KEY_LENGTH:
        return (f"AUDIT_HMAC_KEY est trop courte ({len(value)} caractères) : "
                f"au moins {MIN_KEY_LENGTH} caractères aléatoires.")
    return None


def derived_key(master: bytes, purpose: str) -> bytes:
    """One key per use (rows, checkpoints, key id), so that a value computed for one can
    never pass for another."""
    return hmac.new(master, f"convergence/audit/{purpose}".encode(), hashlib.sha256).digest()


def key_id(master: bytes) -> str:
    """A short fingerprint naming the key in checkpoints (says "another key" instead of
    "forged" when a host was given the wrong one); reveals nothing about the key."""
    return derived_key(master, "key-id").hex()[:16]


# --- hashing ----------------------------------------------------------------------------


def request_id() -> str | None:
    if not has_request_context():
        return None
    if "request_id" not in g:
        g.request_id = uuid.uuid4().hex
    return g.request_id


# json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str),
# the encoder built once: a full walk calls it for every row
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                            default=str)


def _content(event: Any) -> str:
    """The hashed bytes: every column except id and hash. Works on an AuditEvent, a result
    row of COLUMNS, or anything with these attributes."""
    return _ENCODER.encode(
        {
            "created_at": event.created_at.isoformat(),
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "candidature_id": event.candidature_id,
            "before": event.before,
            "after": event.after,
            "request_id": event.request_id,
            "prev_hash": event.prev_hash,
        }
    )


def compute_hash(event: Any, key: bytes | None = None) -> str:
    """The row's hash under its own scheme (LEGACY when it has none: the bench generator's
    rows and those written before migration 0017). A keyed row needs the master key."""
    scheme = getattr(event, "hash_scheme", None) or LEGACY
    content = _content(event).encode()
    if scheme == LEGACY:
        return hashlib.sha256(content).hexdigest()
    if scheme != KEYED:
        raise ValueError(f"unknown audit hash scheme {scheme!r}")
    if key is None:
        key = audit_key()
    return hmac.new(derived_key(key, "row"), content, hashlib.sha256).hexdigest()


# --- writing ----------------------------------------------------------------------------


def _last_hash(session: Session) -> str:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return last or GENESIS


def record(
    actor: Any,
    action: str,
    target: Any,
    *,
    candidature: Candidature | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    session: Session | None = None,
) -> AuditEvent:
    """Append one event. Flushes, never commits: it lands with the caller's transaction."""
    session = session or db()
    key = audit_key()  # before anything is written: no key, no event (and a clear error)
    session.flush()  # the target needs its id
    if isinstance(actor, User):
        actor_id, actor_label = actor.id, actor.email
    elif actor is None or isinstance(actor, str):
        actor_id, actor_label = None, actor or "système"
    else:  # workflow actors: the vendor (Industriel) or the system
        actor_id, actor_label = None, actor.label
    event = AuditEvent(
        created_at=utcnow(),
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        target_type=type(target).__name__.lower() if not isinstance(target, str) else target,
        target_id=str(getattr(target, "id", "") or ""),
        candidature_id=candidature.id if candidature is not None else None,
        before=before,
        after=after,
        request_id=request_id(),
        prev_hash=_last_hash(session),
        hash_scheme=KEYED,
    )
    event.hash = compute_hash(event, key)
    session.add(event)
    session.flush()
    return event


# --- verifying --------------------------------------------------------------------------

BROKEN_LINK = "le chaînage avec la ligne précédente est rompu (ligne supprimée ou insérée)"
MODIFIED = "le contenu de la ligne a été modifié"
# the first keyed row of a walk failing is also what a wrong key looks like
WRONG_KEY_HINT = " (ou AUDIT_HMAC_KEY n'est pas la clé qui a écrit le journal)"
DOWNGRADED = ("la ligne porte une empreinte sans clé après des lignes signées (empreinte "
              "recalculée sans la clé du journal)")
UNKNOWN_SCHEME = "schéma d'empreinte inconnu"

# What a walk reads: every column, as plain rows (no ORM identity map: a full walk of 10M
# rows must not keep them).
COLUMNS = tuple(AuditEvent.__table__.c)


@dataclass
class ChainReport:
    ok: bool
    checked: int
    broken_id: int | None = None
    reason: str | None = None
    # the last row verified (the head a checkpoint may record)
    last_id: int | None = None
    last_hash: str | None = None
    last_scheme: int | None = None
    # rows read from the database, the checkpoint's own row included
    fetched: int = 0
    # rows of the chain up to last_id (known after a full walk, or from the checkpoint)
    events: int = 0
    # verify(): the checkpoint the walk started from, and the checkpoints matched on the way
    checkpoint: Any = None
    checkpoints_matched: int = 0
    full: bool = True
    notes: list[str] = field(default_factory=list)


def _rows_after(session: Session, after_id: int, batch: int) -> Any:
    """Keyset pages on the primary key: each page is an index range scan, whatever the size
    of the table, and rows appended meanwhile are simply read at the end."""
    while True:
        rows = session.execute(
            select(*COLUMNS).where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        yield from rows
        if len(rows) < batch:
            return
        after_id = rows[-1].id


def walk(
    session: Session,
    key: bytes,
    *,
    after_id: int = 0,
    prev_hash: str = GENESIS,
    scheme_floor: int = LEGACY,
    batch: int = 5000,
    on_row: Callable[[Any, int], str | None] | None = None,
    report: ChainReport | None = None,
) -> ChainReport:
    """Check the rows after `after_id`, the first of which must chain to `prev_hash`.
    `on_row(row, position)` may return a reason to stop (the checkpoints of a full walk)."""
    report = report or ChainReport(True, 0)
    row_key = derived_key(key, "row")
    floor = scheme_floor
    for row in _rows_after(session, after_id, batch):
        report.fetched += 1
        if row.prev_hash != prev_hash:
            return _broken(report, row.id, BROKEN_LINK)
        if row.hash_scheme not in SCHEMES:
            return _broken(report, row.id, UNKNOWN_SCHEME)
        if row.hash_scheme < floor:
            return _broken(report, row.id, DOWNGRADED)
        content = _content(row).encode()
        if row.hash_scheme == KEYED:
            expected = hmac.new(row_key, content, hashlib.sha256).hexdigest()
        else:
            expected = hashlib.sha256(content).hexdigest()
        if not hmac.compare_digest(expected, row.hash):
            first_keyed = row.hash_scheme == KEYED and floor < KEYED
            return _broken(report, row.id, MODIFIED + (WRONG_KEY_HINT if first_keyed else ""))
        report.checked += 1
        floor, prev_hash = row.hash_scheme, row.hash
        report.last_id, report.last_hash, report.last_scheme = row.id, row.hash, floor
        if on_row is not None and (reason := on_row(row, report.checked)):
            return _broken(report, row.id, reason)
    return report


def _broken(report: ChainReport, row_id: int, reason: str) -> ChainReport:
    report.ok, report.broken_id, report.reason = False, row_id, reason
    return report


def verify_chain(session: Session | None = None, batch: int = 5000,
                 key: bytes | None = None) -> ChainReport:
    """Walk the whole chain in id order and report the first broken row (the checkpoints
    are not read: audit_checkpoints.verify_full does both)."""
    return walk(session or db(), key or audit_key(), batch=batch)

