"""The vérificateur's overview: candidatures in progress by démarche and current step,
for the parcours of the user's teams. One grouped query, whatever the volume."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, select

from backoffice.db import db
from backoffice.models import Candidature, CandidatureStep, Demarche
from backoffice.workflow.definitions import CandidatureStatus

WAITING_ON_VENDOR = ("brouillon", "complements_demandes", "envoyee", "a_envoyer")


@dataclass(frozen=True)
class OverviewRow:
    demarche_code: str
    demarche_label: str
    step: str
    position: int
    total: int
    to_take: int
    waiting_on_vendor: int


def step_overview(parcours: set[str]) -> list[OverviewRow]:
    if not parcours:
        return []
    stmt = (
        select(
            Demarche.code,
            Demarche.label,
            CandidatureStep.step,
            func.min(CandidatureStep.position),
            func.count(),
            func.sum(case((CandidatureStep.status == "soumise", 1), else_=0)),
            func.sum(case((CandidatureStep.status.in_(WAITING_ON_VENDOR), 1), else_=0)),
        )
        .join(Candidature, Candidature.demarche_code == Demarche.code)
        .join(
            CandidatureStep,
            and_(
                CandidatureStep.candidature_id == Candidature.id,
                CandidatureStep.step == Candidature.current_step,
            ),
        )
        .where(
            Demarche.parcours.in_(sorted(parcours)),
            Candidature.status == CandidatureStatus.en_cours.value,
        )
        .group_by(Demarche.code, Demarche.label, CandidatureStep.step)
        .order_by(Demarche.code, func.min(CandidatureStep.position))
    )
    return [OverviewRow(*row) for row in db.execute(stmt)]
