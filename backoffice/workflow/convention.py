"""Convention: a_envoyer -> envoyee (Yousign request) -> signee -> validee; expiree or
refusee from Yousign, after which it can be sent again."""

from __future__ import annotations

from sqlalchemy import select

from backoffice import audit
from backoffice.db import db
from backoffice.models import Candidature, Convention, Fichier, User
from backoffice.workflow import delays
from backoffice.workflow.base import (
    Actor,
    InvalidInput,
    ensure_allowed,
    ensure_open,
    ensure_status,
    in_state,
    is_systeme,
    is_verificateur_for,
    now,
    require_text,
    step_of,
    touch,
    transition,
)
from backoffice.workflow.definitions import StepKind
from backoffice.workflow.messages import post_system_message
from backoffice.workflow.steps import advance


def convention_of(candidature: Candidature) -> Convention:
    convention = db.scalar(select(Convention).where(Convention.candidature_id == candidature.id))
    if convention is None:
        convention = Convention(candidature_id=candidature.id)
        db.add(convention)
    return convention


SENDABLE = {"a_envoyer", "expiree", "refusee"}


def _can(role: bool, candidature: Candidature, sources: set[str], check_state: bool) -> bool:
    return role and (not check_state
                     or in_state(candidature, step_of(candidature, "convention"), sources))


def can_envoyer(actor: Actor, candidature: Candidature, *, check_state: bool = True) -> bool:
    return _can(is_verificateur_for(actor, candidature), candidature, SENDABLE, check_state)


def can_marquer_signee(actor: Actor, candidature: Candidature, *,
                       check_state: bool = True) -> bool:
    """Yousign's webhook, or a vérificateur who attaches the signed PDF."""
    return _can(is_systeme(actor) or is_verificateur_for(actor, candidature), candidature,
                {"envoyee"}, check_state)


can_marquer_expiree = can_marquer_refusee = can_marquer_signee


def can_valider(actor: Actor, candidature: Candidature, *, check_state: bool = True) -> bool:
    return _can(is_verificateur_for(actor, candidature), candidature, {"signee"}, check_state)


def _step(candidature: Candidature):  # noqa: ANN202
    ensure_open(candidature)
    return candidature.step("convention")


def _record(actor: Actor, candidature: Candidature, action: str, before: str, **after) -> None:  # noqa: ANN003
    step = candidature.step("convention")
    touch(candidature)
    audit.record(actor, f"convention.{action}", step, candidature=candidature,
                 before={"status": before}, after={"status": step.status, **after})


@transition("convention.envoyer", StepKind.convention, SENDABLE, {"envoyee"}, can=can_envoyer,
            event="convention.envoyee", verb="a envoyé la convention pour signature")
def envoyer(candidature: Candidature, *, actor: User, signature_request_id: str) -> None:
    """convention: a_envoyer | expiree | refusee -> envoyee (a Yousign request exists)."""
    step = _step(candidature)
    ensure_allowed(can_envoyer(actor, candidature, check_state=False))
    ensure_status(step, SENDABLE, "La convention")
    request_id = require_text(signature_request_id, "L'identifiant de la demande de signature "
                                                    "Yousign est obligatoire.")
    before, step.status = step.status, "envoyee"
    convention = convention_of(candidature)
    convention.signature_request_id, convention.sent_at = request_id, now()
    step.submitted_at = step.submitted_at or now()
    _record(actor, candidature, "envoyer", before, signature_request_id=request_id)
    post_system_message(candidature, "convention.envoyee")


@transition("convention.marquer_signee", StepKind.convention, {"envoyee"}, {"signee"},
            can=can_marquer_signee, event="convention.signee",
            verb="a enregistré la signature de la convention")
def marquer_signee(candidature: Candidature, *, actor: Actor,
                   signed_file: Fichier | None = None) -> None:
    """convention: envoyee -> signee (Yousign webhook, or a vérificateur with the PDF)."""
    step = _step(candidature)
    ensure_allowed(can_marquer_signee(actor, candidature, check_state=False))
    ensure_status(step, {"envoyee"}, "La convention")
    if signed_file is None and not is_systeme(actor):
        raise InvalidInput("signed_file_required",
                           "Un vérificateur doit joindre la convention signée (PDF).")
    before, step.status = step.status, "signee"
    convention = convention_of(candidature)
    convention.signed_at = now()
    if signed_file is not None:
        convention.signed_fichier_id = signed_file.id
    delays.start_clock(step, candidature.demarche_code, now())
    _record(actor, candidature, "marquer_signee", before,
            signed_file=signed_file.id if signed_file else None)
    post_system_message(candidature, "convention.signee")


def _yousign_outcome(candidature: Candidature, actor: Actor, target: str) -> None:
    step = _step(candidature)
    ensure_allowed(can_marquer_signee(actor, candidature, check_state=False))
    ensure_status(step, {"envoyee"}, "La convention")
    before, step.status = step.status, target
    _record(actor, candidature, f"marquer_{target}", before)
    post_system_message(candidature, f"convention.{target}")


@transition("convention.marquer_expiree", StepKind.convention, {"envoyee"}, {"expiree"},
            can=can_marquer_expiree, event="convention.expiree",
            verb="a constaté l'expiration de la demande de signature")
def marquer_expiree(candidature: Candidature, *, actor: Actor) -> None:
    """convention: envoyee -> expiree (Yousign)."""
    _yousign_outcome(candidature, actor, "expiree")


@transition("convention.marquer_refusee", StepKind.convention, {"envoyee"}, {"refusee"},
            can=can_marquer_refusee, event="convention.refusee",
            verb="a constaté le refus de signature")
def marquer_refusee(candidature: Candidature, *, actor: Actor) -> None:
    """convention: envoyee -> refusee (Yousign)."""
    _yousign_outcome(candidature, actor, "refusee")


@transition("convention.valider", StepKind.convention, {"signee"}, {"validee"}, can=can_valider,
            event="convention.validee", verb="a validé la convention")
def valider(candidature: Candidature, *, actor: User) -> None:
    """convention: signee -> validee (the signed copy was checked); preuves open."""
    step = _step(candidature)
    ensure_allowed(can_valider(actor, candidature, check_state=False))
    ensure_status(step, {"signee"}, "La convention")
    before = step.status
    step.status, step.decided_at, step.decided_by = "validee", now(), actor
    delays.stop_clock(step)
    advance(candidature, step)
    _record(actor, candidature, "valider", before)
    post_system_message(candidature, "convention.validee")
