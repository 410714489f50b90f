"""Statistics kept by the periodic job `statistiques.rafraichir` (backoffice/statistics):
the /statistiques page reads these small tables only, never the raw ones.

- `StatWeekly`: one count per (week, démarche, metric, step, key); `extra` holds a second
  count where the figure needs one (lead times: how many within the delay; exigences:
  how many verdicts in all). Weeks start on Monday at 00:00 in Paris (`week`: that
  Monday's date). Rows whose metric ends in `@N` are the totals of the last N weeks up to
  `week` (the page's periods), written by the job from the weekly rows.
- `StatCurrent`: the state at the job's last run (backlog, ages, overdue, assignments)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.db import Base, utcnow


class StatWeekly(Base):
    __tablename__ = "stat_weekly"
    __table_args__ = (
        Index("ix_stat_weekly_lookup", "metric", "week", "demarche_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[date] = mapped_column(Date)
    demarche_code: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(64), default="")
    key: Mapped[str] = mapped_column(String(64), default="")
    count: Mapped[int] = mapped_column(default=0)
    extra: Mapped[int] = mapped_column(default=0)


class StatCurrent(Base):
    __tablename__ = "stat_current"
    __table_args__ = (Index("ix_stat_current_lookup", "metric", "demarche_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demarche_code: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(64), default="")
    key: Mapped[str] = mapped_column(String(64), default="")
    count: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
