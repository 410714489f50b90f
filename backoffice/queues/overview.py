"""The vérificateur's home: for the démarches of their teams, per démarche and current
step, what waits for them. Grouped queries, whatever the volume."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from backoffice.db import db
from backoffice.models import Candidature, User
from backoffice.queues.cache import queue_cache
from backoffice.queues.candidatures import IN_PROGRESS, visible_demarches
from backoffice.queues.turns import ans_turn, vendor_turn
from backoffice.workflow.definitions import DEMARCHES


@dataclass(frozen=True)
class OverviewRow:
    demarche_code: str
    step: str
    position: int
    total: int
    to_take: int
    mine: int
    waiting_on_vendor: int
    overdue: int

    @property
    def demarche_label(self) -> str:
        return DEMARCHES[self.demarche_code].label


def step_position(demarche_code: str, step: str) -> int:
    """Where the step comes in the démarche (its normal or transitional sequence)."""
    demarche = DEMARCHES[demarche_code]
    for steps in (demarche.steps, demarche.transitional_steps or ()):
        if step in steps:
            return steps.index(step)
    return len(demarche.steps)


def step_overview(user: User, now: datetime) -> list[OverviewRow]:
    """Two grouped queries over the candidatures in progress: the team's counts (kept
    until a candidature moves, queues/cache.py) and the user's own, always read."""
    demarches = tuple(visible_demarches(user))
    if not demarches:
        return []
    team = queue_cache().get(("overview", demarches), lambda: _team_counts(demarches, now))
    mine = dict(((code, step), n) for code, step, n in db.execute(
        select(Candidature.demarche_code, Candidature.current_step, func.count())
        .where(Candidature.queue_assignee_id == user.id,
               Candidature.demarche_code.in_(demarches),
               Candidature.status == IN_PROGRESS)
        .group_by(Candidature.demarche_code, Candidature.current_step)))
    rows = [OverviewRow(code, step, step_position(code, step), total, to_take,
                        mine.get((code, step), 0), on_vendor, overdue)
            for code, step, total, to_take, on_vendor, overdue in team]
    rows.sort(key=lambda r: (r.demarche_code, r.position))
    return rows


def _team_counts(demarches: tuple[str, ...], now: datetime) -> list[tuple[Any, ...]]:
    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    # the candidature's own queue fields: one pass over the in-progress rows, no join
    stmt = (
        select(
            Candidature.demarche_code, Candidature.current_step, func.count(),
            count(and_(ans_turn(), Candidature.queue_assignee_id.is_(None))),
            count(vendor_turn()),
            count(Candidature.queue_due_at < now),
        )
        .where(Candidature.demarche_code.in_(demarches),
               Candidature.status == IN_PROGRESS)
        .group_by(Candidature.demarche_code, Candidature.current_step)
    )
    return [(code, step, *(n or 0 for n in counts)) for code, step, *counts in db.execute(stmt)]
