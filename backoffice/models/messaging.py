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

    attachments: Mapped[list[Fichier]] = relationship(secondary=message_attachment)

    @property
    def visible_to_vendor(self) -> bool:
        return self.kind != "note_interne"
