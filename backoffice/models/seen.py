"""What a vérificateur has already seen (issue 18, item 1, « Quoi de neuf »): when they
last opened each dossier, when they last read their « Activité » page, and whether they
want the daily digest of what changed on their dossiers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, false
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.db import Base


class DossierSeen(Base):
    """One row per user and dossier: the last time the user opened it. What changed
    since (audit events by others) is marked « nouveau » / « modifié » in the queue and on
    the dossier's tabs (backoffice/reviewer/nouveautes.py)."""

    __tablename__ = "dossier_seen"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), primary_key=True)
    seen_at: Mapped[datetime]


class NotificationPreference(Base):
    """A user's « Mon compte » notification choices and the marks the « Activité » page
    and the digest keep (no row: no digest, never visited)."""

    __tablename__ = "notification_preference"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    # opt-in: the daily e-mail of what changed on my dossiers and my teams'
    daily_digest: Mapped[bool] = mapped_column(default=False, server_default=false())
    # the « Activité » page lists what happened since the visit before this one
    activity_seen_at: Mapped[datetime | None]
    # the last digest sent covers events up to this time (the next starts there)
    digest_sent_at: Mapped[datetime | None]
