"""Background jobs waiting to reach Redis. A job is written in the same transaction as
the change that needs it; once committed it is pushed to its RQ queue. While Redis is
down the row stays here and `flask pousser-taches` (or the next push) sends it later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.db import Base, utcnow
from backoffice.models._types import BigIntPK


class JobOutbox(Base):
    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_pending", "enqueued_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_name: Mapped[str] = mapped_column(String(100))
    args: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
