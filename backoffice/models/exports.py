"""A queue export prepared in the background (issue 19, item 3): who asked for it, with
which filters, how far the job got, where the file is and until when it is kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.db import Base, utcnow
from backoffice.models._types import BigIntPK, one_of

EXPORT_FORMATS = ("csv", "xlsx")
EXPORT_STATUSES = ("en_attente", "en_cours", "pret", "echec", "expire")
EXPORT_FORMAT_LABELS = {"csv": "CSV", "xlsx": "Tableur (XLSX)"}
EXPORT_STATUS_LABELS = {"en_attente": "En attente", "en_cours": "En cours de préparation",
                        "pret": "Prêt", "echec": "En échec", "expire": "Expiré"}


class Export(Base):
    __tablename__ = "queue_export"
    __table_args__ = (
        one_of("format", EXPORT_FORMATS, "format"),
        one_of("status", EXPORT_STATUSES, "status"),
        # a ready export names its file and the moment it goes
        CheckConstraint("status <> 'pret' OR (file_key IS NOT NULL AND expires_at IS NOT NULL)",
                        name="ready_has_file"),
        Index("ix_queue_export_requester", "requester_id", "id"),
        Index("ix_queue_export_expiry", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    requester_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(8))
    # the queue's filters as its URL says them (queues.candidatures.Filters.as_args)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the same in French, as the Exports page shows them
    description: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="en_attente")
    rows_total: Mapped[int | None]
    rows_written: Mapped[int] = mapped_column(default=0)
    # the file's name inside the exports folder (backoffice/queues/export.py)
    file_key: Mapped[str | None] = mapped_column(String(200))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    downloaded_at: Mapped[datetime | None]

    @property
    def format_label(self) -> str:
        return EXPORT_FORMAT_LABELS[self.format]

    @property
    def status_label(self) -> str:
        return EXPORT_STATUS_LABELS[self.status]

    @property
    def running(self) -> bool:
        return self.status in ("en_attente", "en_cours")

    def downloadable(self, now: datetime) -> bool:
        return self.status == "pret" and self.expires_at is not None and self.expires_at > now
