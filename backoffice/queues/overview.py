"""The vérificateur's home: for the démarches of their teams, per démarche and current
step, what waits for them. One grouped query, whatever the volume."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select

from backoffice.db import db
from backoffice.models import Candidature, User
from backoffice.queues.candidatures import visible_demarches
from backoffice.queues.turns import ans_turn, vendor_turn
from backoffice.workflow.definitions import DEMARCHES, CandidatureStatus


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
    demarches = visible_demarches(user)
    if not demarches:
        return []
    def count(condition):  # noqa: ANN001, ANN202
        return func.sum(case((condition, 1), else_=0))

    # the candidature's own queue fields: one pass over the in-progress rows, no join
    stmt = (
        select(
            Candidature.demarche_code, Candidature.current_step, func.count(),
            count(and_(ans_turn(), Candidature.queue_assignee_id.is_(None))),
            count(Candidature.queue_assignee_id == user.id),
            count(vendor_turn()),
            count(Candidature.queue_due_at < now),
        )
        .where(Candidature.demarche_code.in_(demarches),
               Candidature.status == CandidatureStatus.en_cours.value)
        .group_by(Candidature.demarche_code, Candidature.current_step)
    )
    rows = [(code, step, step_position(code, step), *counts)
            for code, step, *counts in db.execute(stmt)]
    rows.sort(key=lambda r: (r[0], r[2]))
    return [OverviewRow(*(v or 0 if i > 2 else v for i, v in enumerate(row))) for row in rows]
