"""The vérificateur's home: for the démarches of their teams, per démarche and current
step, what waits for them. The team's counts are kept by the transactions that move
candidatures (models/queue_count.py): a few hundred rows read, whatever the volume and
whether or not something just moved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from backoffice.db import db
from backoffice.models import Candidature, DossierHolding, User
from backoffice.models.queue_count import team_counts
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
    """Three reads: the team's counts (models/queue_count.py), those due earlier today,
    and the user's own (their holdings)."""
    demarches = tuple(visible_demarches(user))
    if not demarches:
        return []
    team = team_counts(db, demarches, now)
    # « Mes dossiers »: the dossiers whose step I hold or where I review a section, from
    # my holdings (models/follow.py), index only
    mine = dict(((code, step), n) for code, step, n in db.execute(
        select(DossierHolding.demarche_code, DossierHolding.current_step, func.count())
        .where(DossierHolding.user_id == user.id,
               DossierHolding.demarche_code.in_(demarches))
        .group_by(DossierHolding.demarche_code, DossierHolding.current_step)))
    rows = [OverviewRow(code, step, step_position(code, step), total, to_take,
                        mine.get((code, step), 0), on_vendor, overdue)
            for code, step, total, to_take, on_vendor, overdue in team]
    rows.sort(key=lambda r: (r.demarche_code, r.position))
    return rows


def recomputed_counts(demarches: tuple[str, ...], now: datetime) -> list[tuple[Any, ...]]:
    """The same counts as `team_counts`, recomputed from the candidatures in progress
    (one pass over them): the reference the kept counts are tested against."""

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
