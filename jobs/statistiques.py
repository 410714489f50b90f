"""Keep the statistics of /statistiques (backoffice/statistics/aggregate.py): the recent
weeks every 15 minutes, everything on the first run after 02:00 UTC (and on the very
first run). One periodic job rather than two, so that the two never compete. Safe to run
twice: each run replaces what it recounts, under a lock on PostgreSQL so that two runs
never interleave."""

from __future__ import annotations

from jobs import job


def _run(complet: bool) -> dict[str, int]:
    from backoffice.statistics.aggregate import rafraichir as recount

    return recount(complet=complet)  # one recount, committed by the job's unit of work


NIGHTLY_HOUR = 2  # UTC
PERIOD_MINUTES = 15


def _complete_due() -> bool:
    from sqlalchemy import select

    from backoffice.db import db, utcnow
    from backoffice.models import StatCurrent

    at = utcnow()
    never = db.scalar(select(StatCurrent.id).limit(1)) is None
    return never or (at.hour == NIGHTLY_HOUR and at.minute < PERIOD_MINUTES)


@job(retries=0)
def rafraichir() -> dict[str, int]:
    return _run(complet=_complete_due())


@job(retries=0)
def rafraichir_complet() -> dict[str, int]:
    return _run(complet=True)
