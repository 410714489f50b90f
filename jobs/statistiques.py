"""Keep the statistics of /statistiques (backoffice/statistics/aggregate.py): the recent
weeks every 15 minutes, everything each night. Safe to run twice: each run replaces what
it recounts, under a lock on PostgreSQL so that two runs never interleave."""

from __future__ import annotations

from jobs import job


def _run(complet: bool) -> dict[str, int]:
    from backoffice.db import db
    from backoffice.statistics.aggregate import rafraichir as recount

    try:
        result = recount(complet=complet)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return result


@job(retries=0)
def rafraichir() -> dict[str, int]:
    return _run(complet=False)


@job(retries=0)
def rafraichir_complet() -> dict[str, int]:
    return _run(complet=True)
