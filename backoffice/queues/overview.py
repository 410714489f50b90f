"""The vérificateur's home: for the démarches of their teams, per démarche and current
step, what waits for them. One grouped query, whatever the volume."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from backoffice.db import db
from backoffice.models import Candidature, CandidatureStep, User
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


def step_overview(user: User, now: datetime) -> list[OverviewRow]:
    demarches = visible_demarches(user)
    if not demarches:
        return []
    step = aliased(CandidatureStep)

    def count(condition):  # noqa: ANN001, ANN202
        return func.sum(case((condition, 1), else_=0))

    stmt = (
        select(
            Candidature.demarche_code, step.step, func.min(step.position), func.count(),
            count(and_(ans_turn(step), step.assignee_id.is_(None))),
            count(step.assignee_id == user.id),
            count(vendor_turn(step)),
            count(step.due_at < now),
        )
        .join(step, and_(step.candidature_id == Candidature.id,
                         step.step == Candidature.current_step))
        .where(Candidature.demarche_code.in_(demarches),
               Candidature.status == CandidatureStatus.en_cours.value)
        .group_by(Candidature.demarche_code, step.step)
        .order_by(Candidature.demarche_code, func.min(step.position))
    )
    return [OverviewRow(*(v or 0 if i > 2 else v for i, v in enumerate(row)))
            for row in db.execute(stmt)]
