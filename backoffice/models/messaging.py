"""One thread per candidature: automatic messages at each transition, messages of the
vendor and of the vérificateurs, internal notes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base, utcnow
from backoffice.models._types import BigIntPK, one_of
from backoffice.models.files import Fichier

AUTHOR_KINDS = ("systeme", "industriel", "ans")
MESSAGE_KINDS = ("automatique", "message", "note_interne")

message_attachment = Table(
    "message_attachment",
    Base.metadata,
    Column("message_id", ForeignKey("message.id", ondelete="CASCADE"), primary_key=True),
    Column("fichier_id", ForeignKey("fichier.id", ondelete="CASCADE"), primary_key=True),
)


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        one_of("author_kind", AUTHOR_KINDS, "author_kind"),
        one_of("kind", MESSAGE_KINDS, "kind"),
        Index("ix_message_candidature", "candidature_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    candidature_id: Mapped[int] = mapped_column(ForeignKey("candidature.id", ondelete="CASCADE"))
    author_kind: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(16), default="message")
    # the transition that posted an automatic message ("recevabilite.complements_demandes")
    event: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime | None]
    # ANS expects an answer from the vendor to this message.
    reponse_attendue: Mapped[bool] = mapped_column(default=False)

    attachments: Mapped[list[Fichier]] = relationship(secondary=message_attachment)

    @property
    def visible_to_vendor(self) -> bool:
        return self.kind != "note_interne"


class MessageRead(Base):
    """How far each back-office user has read a candidature's thread."""

    __tablename__ = "message_read"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), primary_key=True
    )
    last_read_message_id: Mapped[int] = mapped_column(BigIntPK)


class MessageTemplate(Base):
    """An admin's wording of an automatic message, replacing the built-in one."""

    __tablename__ = "message_template"

    event: Mapped[str] = mapped_column(String(100), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)


OUTBOX_STATUSES = ("a_envoyer", "envoye", "echec")


class OutboxMail(Base):
    """An e-mail to send: written in the same transaction as its message, sent by a job,
    retried while the mail server is down, never lost."""

    __tablename__ = "outbox_mail"
    __table_args__ = (
        one_of("status", OUTBOX_STATUSES, "status"),
        Index("ix_outbox_mail_pending", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("message.id", ondelete="SET NULL"), unique=True
    )
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(400))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="a_envoyer")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
