"""Who holds a dossier: take it, release it, hand it to a colleague. Audited; for form
steps, taking and releasing also move the step (soumise <-> en_instruction)."""

from __future__ import annotations

from backoffice import audit
from backoffice.models import Candidature, User
from backoffice.workflow import forms
from backoffice.workflow.base import (
    TransitionError,
    ensure_allowed,
    ensure_open,
    ensure_status,
    in_state,
    is_verificateur_for,
    touch,
    transition,
)
from backoffice.workflow.definitions import STEPS, StepKind

FORM = StepKind.form


def can_prendre(actor: User, candidature: Candidature) -> bool:
    step = candidature.current
    resubmitted_to_me = (STEPS[step.step].kind == FORM and step.status == "soumise"
                         and step.assignee_id == actor.id)
    return (candidature.status == "en_cours" and is_verificateur_for(actor, candidature)
            and step.status != "a_venir" and (step.assignee_id is None or resubmitted_to_me))


def _name(assignee: User | None) -> str:
    return assignee.name if assignee is not None else "un autre vérificateur"


def prendre(candidature: Candidature, *, actor: User) -> None:
    """"Je prends ce dossier": the current step is now the actor's."""
    ensure_open(candidature)
    ensure_allowed(is_verificateur_for(actor, candidature))
    step = candidature.current
    if STEPS[step.step].kind == FORM and step.status == "soumise":
        forms.prendre(candidature, step.step, actor=actor)
        return
    if step.assignee_id not in (None, actor.id):
        raise TransitionError("assigned_to_someone_else",
                              f"Ce dossier est attribué à {_name(step.assignee)}.")
    before, step.assignee = step.assignee_id, actor
    touch(candidature)
    audit.record(actor, "attribution.prendre", step, candidature=candidature,
                 before={"assignee": before}, after={"assignee": actor.id})


def can_liberer(actor: User, candidature: Candidature, *, check_state: bool = True) -> bool:
    """The vérificateur holding the current step gives it back; a form step only while it
    is en instruction (once compléments are asked, the vendor has it)."""
    if not is_verificateur_for(actor, candidature):
        return False
    if not check_state:
        return True
    step = candidature.current
    if STEPS[step.step].kind == FORM and not in_state(candidature, step, {"en_instruction"}):
        return False
    return candidature.status == "en_cours" and step.assignee_id == actor.id


@transition("form.liberer", FORM, {"en_instruction"}, {"soumise"}, can=can_liberer,
            audit="attribution.liberer", verb="a libéré le dossier")
def liberer(candidature: Candidature, *, actor: User) -> None:
    """form step: en_instruction -> soumise, unassigned (other steps: just unassigned)."""
    ensure_open(candidature)
    ensure_allowed(can_liberer(actor, candidature, check_state=False))
    step = candidature.current
    if STEPS[step.step].kind == FORM:
        ensure_status(step, {"en_instruction"}, "L'étape")
    if step.assignee_id is None:
        raise TransitionError("not_assigned", "Ce dossier n'est attribué à personne.")
    if step.assignee_id != actor.id:
        # handing someone's dossier on is « Confier », which says to whom
        raise TransitionError("assigned_to_someone_else",
                              f"Ce dossier est attribué à {_name(step.assignee)} : seul "
                              "le vérificateur qui le tient peut le libérer.")
    before = {"status": step.status, "assignee": step.assignee_id}
    if STEPS[step.step].kind == FORM:
        step.status = "soumise"
    step.assignee = None
    touch(candidature)
    # Internal: the vendor is not told that a dossier changed hands.
    audit.record(actor, "attribution.liberer", step, candidature=candidature, before=before,
                 after={"status": step.status, "assignee": None})


def can_confier(actor: User, candidature: Candidature) -> bool:
    """Any vérificateur of the parcours hands an open dossier to a colleague."""
    return candidature.status == "en_cours" and is_verificateur_for(actor, candidature)


def confier(candidature: Candidature, *, actor: User, to: User) -> None:
    """Hand the current step to a colleague of the same parcours."""
    ensure_open(candidature)
    ensure_allowed(can_confier(actor, candidature))
    if not is_verificateur_for(to, candidature):
        raise TransitionError("not_a_colleague",
                              f"{to.name} n'est pas vérificateur de ce parcours.", 422)
    step = candidature.current
    before, step.assignee = step.assignee_id, to
    touch(candidature)
    audit.record(actor, "attribution.confier", step, candidature=candidature,
                 before={"assignee": before}, after={"assignee": to.id})
