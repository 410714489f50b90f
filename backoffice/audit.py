"""Writing and verifying the audit trail (design.md, "Audit").

Each row carries the hash of the previous row and its own hash over its content, so a
modified, deleted or inserted row breaks the chain at that point.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backoffice.db import db, utcnow
from backoffice.models import AuditEvent, Candidature, User

GENESIS = "0" * 64
_CHAIN_LOCK = 7_310_001  # pg_advisory_xact_lock key serialising writers of the chain


def request_id() -> str | None:
    if not has_request_context():
        return None
    if "request_id" not in g:
        g.request_id = uuid.uuid4().hex
    return g.request_id


def _content(event: AuditEvent) -> str:
    return json.dumps(
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
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_content(event).encode()).hexdigest()


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
    )
    event.hash = compute_hash(event)
    session.add(event)
    session.flush()
    return event


BROKEN_LINK = "le chaînage avec la ligne précédente est rompu (ligne supprimée ou insérée)"
MODIFIED = "le contenu de la ligne a été modifié"


@dataclass
class ChainReport:
    ok: bool
    checked: int
    broken_id: int | None = None
    reason: str | None = None


def verify_chain(session: Session | None = None, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order, streaming, and report the first broken row."""
    session = session or db()
    prev = GENESIS
    checked = 0
    stmt = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch)
    for event in session.scalars(stmt):
        if event.prev_hash != prev:
            return ChainReport(False, checked, event.id, BROKEN_LINK)
        if compute_hash(event) != event.hash:
            return ChainReport(False, checked, event.id, MODIFIED)
        prev = event.hash
        checked += 1
    return ChainReport(True, checked)
