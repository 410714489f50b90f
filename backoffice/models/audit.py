"""The audit trail: append-only, each row chained to the previous one by its hash
(backoffice/audit.py: how the hash is computed, per `hash_scheme`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.db import Base, utcnow
from backoffice.models._types import BigIntPK


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_candidature", "candidature_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Kept as written at the time: "système", "API: Organisation X", a user's e-mail.
    actor_label: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(64))
    candidature_id: Mapped[int | None] = mapped_column(ForeignKey("candidature.id"))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # 1: SHA-256 of the content, unkeyed (every row written before migration 0017);
    # 2: HMAC-SHA256 with AUDIT_HMAC_KEY, kept outside the database. Never goes back down
    # along the chain (a forger without the key cannot pass a row off as an old one).
    hash_scheme: Mapped[int] = mapped_column(SmallInteger, server_default="1")
