"""Collège de certification: a_programmer -> inscrite -> favorable | defavorable, or
ajournée (back to a_programmer, optionally reopening sections)."""

from __future__ import annotations

from backoffice import audit
from backoffice.models import Candidature, User
from backoffice.workflow import delays
from backoffice.workflow.base import (
    Actor,
    ensure_allowed,
    ensure_open,
    ensure_status,
    in_state,
    is_admin,
    is_college,
    now,
    require_text,
    step_of,
    touch,
    transition,
)
from backoffice.workflow.definitions import CandidatureStatus, StepKind
from backoffice.workflow.messages import post_system_message
from backoffice.workflow.preuves import ensure_all_validated, reopen, section_of
from backoffice.workflow.steps import advance, close


def can_inscrire(actor: Actor, candidature: Candidature, *, check_state: bool = True) -> bool:
    """A collège member or an admin puts the dossier on a séance's agenda."""
    return (is_college(actor) or is_admin(actor)) and (
        not check_state
        or in_state(candidature, step_of(candidature, "college"), {"a_programmer"}))


def can_decider(actor: Actor, candidature: Candidature | None = None, *,
                check_state: bool = True) -> bool:
    """The collège decides (favorable, défavorable, ajourner) on an inscribed dossier;
    without a candidature: whether the actor may decide at all."""
    if not is_college(actor):
        return False
    if candidature is None or not check_state:
        return True
    return in_state(candidature, step_of(candidature, "college"), {"inscrite"})


can_decision_favorable = can_decision_defavorable = can_ajourner = can_decider


def _step(candidature: Candidature, actor: Actor, statuses: set[str]):
    ensure_open(candidature)
    step = candidature.step("college")
    ensure_status(step, statuses, "Le passage en collège")
    return step


def _record(actor: User, candidature: Candidature, action: str, before: str, **after) -> None:
    step = candidature.step("college")
    touch(candidature)
    audit.record(actor, f"college.{action}", step, candidature=candidature,
                 before={"status": before}, after={"status": step.status, **after})


@transition("college.inscrire", StepKind.college, {"a_programmer"}, {"inscrite"},
            can=can_inscrire, event="college.inscrite",
            verb="a inscrit le dossier à une séance du collège")
def inscrire(candidature: Candidature, *, actor: User) -> None:
    """college: a_programmer -> inscrite (on a séance's agenda)."""
    ensure_allowed(can_inscrire(actor, candidature, check_state=False))
    step = _step(candidature, actor, {"a_programmer"})
    ensure_all_validated(candidature)
    before, step.status = step.status, "inscrite"
    _record(actor, candidature, "inscrire", before)
    post_system_message(candidature, "college.inscrite")


@transition("college.favorable", StepKind.college, {"inscrite"}, {"favorable"},
            can=can_decision_favorable, event="college.favorable",
            verb="a rendu une décision favorable")
def decision_favorable(candidature: Candidature, *, actor: User) -> None:
    """college: inscrite -> favorable; certificate issuance starts."""
    ensure_allowed(can_decider(actor, candidature, check_state=False))
    step = _step(candidature, actor, {"inscrite"})
    before = step.status
    step.status, step.decided_at, step.decided_by = "favorable", now(), actor
    delays.stop_clock(step)
    advance(candidature, step)
    _record(actor, candidature, "favorable", before)
    post_system_message(candidature, "college.favorable")


@transition("college.defavorable", StepKind.college, {"inscrite"}, {"defavorable"},
            can=can_decision_defavorable, event="college.defavorable",
            verb="a rendu une décision défavorable")
def decision_defavorable(candidature: Candidature, *, actor: User, motif: str) -> None:
    """college: inscrite -> defavorable; the candidature ends rejetee."""
    ensure_allowed(can_decider(actor, candidature, check_state=False))
    body = require_text(motif, "Le motif de la décision défavorable est obligatoire.")
    step = _step(candidature, actor, {"inscrite"})
    before = step.status
    step.status, step.decided_at, step.decided_by = "defavorable", now(), actor
    close(candidature, CandidatureStatus.rejetee)
    _record(actor, candidature, "defavorable", before, motif=body)
    post_system_message(candidature, "college.defavorable", body=body)


@transition("college.ajourner", StepKind.college, {"inscrite"}, {"a_programmer"},
            can=can_ajourner, event="college.ajournee", verb="a ajourné le dossier")
def ajourner(candidature: Candidature, *, actor: User, motif: str,
             sections: list[str] | None = None) -> None:
    """college: inscrite -> a_programmer, optionally reopening sections."""
    ensure_allowed(can_decider(actor, candidature, check_state=False))
    body = require_text(motif, "Le motif de l'ajournement est obligatoire.")
    step = _step(candidature, actor, {"inscrite"})
    reopened = [section_of(candidature, code) for code in sections or []]
    before, step.status = step.status, "a_programmer"
    for section in reopened:
        reopen(candidature, section, actor=actor, message=body)
    _record(actor, candidature, "ajourner", before, motif=body,
            sections=[s.code for s in reopened])
    post_system_message(candidature, "college.ajournee", body=body)
