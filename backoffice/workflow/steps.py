"""Moving a candidature from one step to the next, and ending it."""

from __future__ import annotations

from backoffice.db import db
from backoffice.models import Candidature, CandidatureStep
from backoffice.workflow import delays
from backoffice.workflow.base import now
from backoffice.workflow.definitions import STEPS, CandidatureStatus, StepKind

INITIAL_STATUS = {
    StepKind.form: "brouillon",
    StepKind.convention: "a_envoyer",
    StepKind.preuves: "en_cours",
    StepKind.preuves_pour_avis: "en_attente_depot",
    StepKind.college: "a_programmer",
    StepKind.emission: "emission_en_cours",
}


def build_steps(candidature: Candidature) -> None:
    """The step rows of a new candidature: the first one open, the others to come."""
    at = now()
    candidature.steps = [
        CandidatureStep(step=code, position=i, status="a_venir")
        for i, code in enumerate(candidature.demarche.steps)
    ]
    first = candidature.steps[0]
    first.status, first.opened_at = INITIAL_STATUS[STEPS[first.step].kind], at
    candidature.current_step = first.step


def next_step(candidature: Candidature, step: CandidatureStep) -> CandidatureStep | None:
    later = [s for s in candidature.steps if s.position > step.position]
    return min(later, key=lambda s: s.position) if later else None


def open_step(candidature: Candidature, step: CandidatureStep) -> None:
    at = now()
    kind = STEPS[step.step].kind
    step.status, step.opened_at = INITIAL_STATUS[kind], at
    candidature.current_step = step.step
    if kind == StepKind.college:
        step.submitted_at = at
        delays.start_clock(step, candidature.demarche_code, at)
    if kind == StepKind.preuves:
        from backoffice.workflow.referentiels import open_sections

        open_sections(candidature)
    if kind == StepKind.preuves_pour_avis:
        from backoffice.workflow.avis import open_step as open_pour_avis

        open_pour_avis(candidature, step)
    if kind == StepKind.emission:
        from backoffice.tasks import schedule

        schedule("certificats.emettre", candidature.id)


def advance(candidature: Candidature, step: CandidatureStep) -> CandidatureStep | None:
    """`step` is done: open the next one (None when it was the last)."""
    following = next_step(candidature, step)
    if following is not None:
        open_step(candidature, following)
    db.flush()
    return following


def close(candidature: Candidature, status: CandidatureStatus) -> None:
    candidature.status = status.value
    candidature.closed_at = now()
    for step in candidature.steps:
        delays.stop_clock(step)
