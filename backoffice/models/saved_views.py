"""Saved queue views (issue 18, item 3): a name and the queue's arguments (view,
filters, columns, sort) as its URL says them, kept per user and shareable with one of
their teams."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base, utcnow
from backoffice.models.user import Team, User


class SavedView(Base):
    __tablename__ = "saved_view"
    __table_args__ = (
        # the queue page reads a user's own views and those shared with their teams
        Index("ix_saved_view_owner", "owner_id", "name"),
        Index("ix_saved_view_team", "team_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    # shared with this team (its members see and use it), or None: the owner's only
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    # queues.candidatures.Filters.as_args() plus the columns shown ("colonnes")
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[User] = relationship()
    team: Mapped[Team | None] = relationship()
