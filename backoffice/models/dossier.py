"""What the vendor files for a step (its form), the convention, and the plumbing of the
intake API (webhook events seen, idempotency keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.db import Base, utcnow


class StepForm(Base):
    __tablename__ = "step_form"
    __table_args__ = (UniqueConstraint("candidature_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidature_id: Mapped[int] = mapped_column(ForeignKey("candidature.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Convention(Base):
    __tablename__ = "convention"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), unique=True
    )
    # None while status is "envoyee": the job creating the Yousign request has not run yet
    signature_request_id: Mapped[str | None] = mapped_column(String(100), index=True)
    # Yousign's ids of the signable document and of the signer (to download them once done)
    document_id: Mapped[str | None] = mapped_column(String(100))
    signer_id: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None]
    signed_at: Mapped[datetime | None]
    signed_fichier_id: Mapped[int | None] = mapped_column(ForeignKey("fichier.id"))
    # Yousign's audit trail of the signature (PDF), downloaded with the signed document
    audit_trail_fichier_id: Mapped[int | None] = mapped_column(ForeignKey("fichier.id"))

    @property
    def sending(self) -> bool:
        """Sent by a vérificateur, the Yousign request not created yet (jobs/conventions)."""
        return self.sent_at is not None and self.signature_request_id is None


class WebhookEvent(Base):
    """Webhook deliveries already processed: a replayed event changes nothing."""

    __tablename__ = "webhook_event"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class IdempotencyKey(Base):
    """The answer given to a POST carrying an Idempotency-Key, replayed on retry."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("organisation_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
