"""Séances of the collège de certification: members, agenda, conflicts, votes, decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base, utcnow
from backoffice.models._types import one_of
from backoffice.models.candidature import Candidature
from backoffice.models.user import User

seance_members = Table(
    "seance_member",
    Base.metadata,
    Column("seance_id", ForeignKey("seance.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("user_account.id"), primary_key=True),
)

VOTES = ("favorable", "defavorable", "abstention")
DECISIONS = ("favorable", "defavorable", "ajournee")


class Seance(Base):
    __tablename__ = "seance"
    __table_args__ = (one_of("status", ["ouverte", "close"], "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[datetime]
    label: Mapped[str] = mapped_column(String(200))
    president_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    quorum: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="ouverte")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    pv_storage_key: Mapped[str | None] = mapped_column(String(80))
    pv_sha256: Mapped[str | None] = mapped_column(String(64))

    president: Mapped[User] = relationship(foreign_keys=[president_id])
    members: Mapped[list[User]] = relationship(secondary=seance_members, order_by=User.name)
    items: Mapped[list[AgendaItem]] = relationship(back_populates="seance",
                                                   order_by="AgendaItem.id",
                                                   cascade="all, delete-orphan")


class AgendaItem(Base):
    __tablename__ = "agenda_item"
    __table_args__ = (UniqueConstraint("seance_id", "candidature_id"),
                      one_of("decision", DECISIONS, "decision"))

    id: Mapped[int] = mapped_column(primary_key=True)
    seance_id: Mapped[int] = mapped_column(ForeignKey("seance.id", ondelete="CASCADE"))
    candidature_id: Mapped[int] = mapped_column(ForeignKey("candidature.id"))
    decision: Mapped[str | None] = mapped_column(String(16))
    motive: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]

    seance: Mapped[Seance] = relationship(back_populates="items")
    candidature: Mapped[Candidature] = relationship()
    votes: Mapped[list[Vote]] = relationship(cascade="all, delete-orphan")
    conflicts: Mapped[list[Conflict]] = relationship(cascade="all, delete-orphan")


class Vote(Base):
    __tablename__ = "vote"
    __table_args__ = (UniqueConstraint("item_id", "user_id"), one_of("vote", VOTES, "vote"))

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("agenda_item.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    vote: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class Conflict(Base):
    """A member's declared conflict of interest on a dossier: they cannot vote on it."""

    __tablename__ = "conflict"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("agenda_item.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()
