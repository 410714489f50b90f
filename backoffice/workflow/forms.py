"""Form steps (recevabilité, dépôt, éligibilité): soumettre, prendre, valider,
demander des compléments, rejeter."""

from __future__ import annotations

from sqlalchemy import select

from backoffice import audit
from backoffice.db import db
from backoffice.models import Candidature, Piece, PieceType, StepForm, User
from backoffice.workflow import campaigns, delays, form_blocks
from backoffice.workflow.base import (
    Actor,
    InvalidInput,
    TransitionError,
    ensure_allowed,
    ensure_open,
    ensure_status,
    in_state,
    is_industriel_of,
    is_verificateur_for,
    now,
    require_text,
    step_of,
    touch,
    transition,
)
from backoffice.workflow.definitions import STEPS, CandidatureStatus, StepKind, step_label
from backoffice.workflow.messages import post_system_message
from backoffice.workflow.steps import advance, close


def _form_step(candidature: Candidature, step_code: str):
    # the candidature's own steps: an admin changing the démarche leaves them as they were
    if step_code not in STEPS or STEPS[step_code].kind != StepKind.form or \
            step_code not in {s.step for s in candidature.steps}:
        raise InvalidInput("unknown_step", f"Cette candidature n'a pas d'étape « {step_code} ».")
    step = candidature.step(step_code)
    return step


def missing_for_submission(candidature: Candidature, step_code: str) -> list[str]:
    """What the vendor still has to provide, in French (form_blocks: the blocks and their
    required fields)."""
    missing = []
    form = db.scalar(select(StepForm).where(
        StepForm.candidature_id == candidature.id, StepForm.step == step_code))
    missing += form_blocks.missing(form.data if form else {}, step_code)
    parcours = candidature.demarche.parcours
    required = db.scalars(select(PieceType).where(
        PieceType.parcours == parcours, PieceType.step == step_code,
        PieceType.required.is_(True)).order_by(PieceType.position)).all()
    present = set(db.scalars(select(Piece.type_code).where(
        Piece.candidature_id == candidature.id, Piece.step == step_code,
        Piece.archived_at.is_(None))).all())
    missing += [f"la pièce « {p.label} »" for p in required if p.code not in present]
    return missing


def _form_step_or_none(candidature: Candidature, step_code: str):
    if step_code not in candidature.demarche.steps or STEPS[step_code].kind != StepKind.form:
        return None
    return step_of(candidature, step_code)


SUBMITTABLE = {"brouillon", "complements_demandes"}


def can_soumettre(actor: Actor, candidature: Candidature, step_code: str, *,
                  check_state: bool = True) -> bool:
    """The vendor submits its own candidature's form step while it holds it."""
    return is_industriel_of(actor, candidature) and (
        not check_state
        or in_state(candidature, _form_step_or_none(candidature, step_code), SUBMITTABLE))


@transition("form.soumettre", StepKind.form, SUBMITTABLE, {"soumise"}, can=can_soumettre,
            audit="{step}.soumettre", event="form.soumise", verb="a soumis l'étape « {step} »")
def soumettre(candidature: Candidature, step_code: str, *, actor: Actor) -> None:
    """form step: brouillon | complements_demandes -> soumise (the vendor submits)."""
    ensure_allowed(can_soumettre(actor, candidature, step_code, check_state=False))
    ensure_open(candidature)
    step = _form_step(candidature, step_code)
    ensure_status(step, SUBMITTABLE)
    missing = missing_for_submission(candidature, step_code)
    if missing:
        raise InvalidInput("incomplete", "Il manque " + ", ".join(missing) + ".")
    at = now()
    before = step.status
    if before == "brouillon":
        campaigns.ensure_window_open(candidature, at)
        step.submitted_at = at
        if candidature.submitted_at is None:
            candidature.submitted_at = at
        delays.start_clock(step, candidature.demarche_code, at)
        event = "form.soumise"
    else:
        # The same vérificateur keeps it; the clock restarts with what was left.
        delays.resume_clock(step, candidature.demarche_code, at)
        event = "form.resoumise"
    step.status = "soumise"
    touch(candidature)
    audit.record(actor, f"{step_code}.soumettre", step, candidature=candidature,
                 before={"status": before}, after={"status": step.status})
    post_system_message(candidature, event, step=step_label(step_code))


def can_prendre(actor: Actor, candidature: Candidature, step_code: str, *,
                check_state: bool = True) -> bool:
    """A vérificateur of the parcours takes a submitted form step nobody else holds."""
    if not is_verificateur_for(actor, candidature):
        return False
    if not check_state:
        return True
    step = _form_step_or_none(candidature, step_code)
    return in_state(candidature, step, {"soumise"}) and step.assignee_id in (None, actor.id)


@transition("form.prendre", StepKind.form, {"soumise"}, {"en_instruction"}, can=can_prendre,
            audit="{step}.prendre", event="form.prise",
            verb="a pris en instruction l'étape « {step} »")
def prendre(candidature: Candidature, step_code: str, *, actor: User) -> None:
    """form step: soumise -> en_instruction (a vérificateur takes it)."""
    ensure_open(candidature)
    step = _form_step(candidature, step_code)
    ensure_allowed(can_prendre(actor, candidature, step_code, check_state=False))
    ensure_status(step, {"soumise"})
    if step.assignee_id not in (None, actor.id):
        raise TransitionError(
            "assigned_to_someone_else",
            f"Ce dossier est attribué à {step.assignee.name}.",
        )
    before = step.status
    step.status, step.assignee = "en_instruction", actor
    touch(candidature)
    audit.record(actor, f"{step_code}.prendre", step, candidature=candidature,
                 before={"status": before}, after={"status": step.status, "assignee": actor.id})
    post_system_message(candidature, "form.prise", step=step_label(step_code))


def can_decider(actor: Actor, candidature: Candidature, step_code: str, *,
                check_state: bool = True) -> bool:
    """The vérificateur instructing a form step decides it (valider, demander des
    compléments, rejeter)."""
    if not is_verificateur_for(actor, candidature):
        return False
    if not check_state:
        return True
    step = _form_step_or_none(candidature, step_code)
    return in_state(candidature, step, {"en_instruction"}) and step.assignee_id == actor.id


can_valider = can_demander_complements = can_rejeter = can_decider


def _ensure_decider(actor: User, candidature: Candidature, step_code: str):
    ensure_open(candidature)
    step = _form_step(candidature, step_code)
    ensure_allowed(can_decider(actor, candidature, step_code, check_state=False))
    ensure_status(step, {"en_instruction"})
    if step.assignee_id != actor.id:
        raise TransitionError("not_assignee",
                              "Seul le vérificateur qui instruit ce dossier peut décider.")
    return step


def is_informative(candidature: Candidature, step_code: str) -> bool:
    """Ligne générique opened in phase transitoire (its own steps lead to the preuves pour
    avis): the recevabilité decision is informative."""
    return step_code == "recevabilite" and any(
        s.step == "preuves_pour_avis" for s in candidature.steps)


@transition("form.valider", StepKind.form, {"en_instruction"}, {"validee"}, can=can_valider,
            audit="{step}.valider", event="form.validee", verb="a validé l'étape « {step} »")
def valider(candidature: Candidature, step_code: str, *, actor: User) -> None:
    """form step: en_instruction -> validee; the next step opens."""
    step = _ensure_decider(actor, candidature, step_code)
    if step_code in ("recevabilite", "eligibilite"):
        from backoffice.workflow.referentiels import fix_referentiel

        fix_referentiel(candidature)  # first: it may refuse, and nothing is changed yet
    at = now()
    before = step.status
    step.status, step.decided_at, step.decided_by = "validee", at, actor
    step.informative = is_informative(candidature, step_code)
    delays.stop_clock(step)
    touch(candidature)
    following = advance(candidature, step)
    audit.record(actor, f"{step_code}.valider", step, candidature=candidature,
                 before={"status": before},
                 after={"status": step.status, "informative": step.informative,
                        "next": following.step if following else None})
    extra = " Cette décision est informative (phase transitoire)." if step.informative else ""
    post_system_message(candidature, "form.validee", step=step_label(step_code), extra=extra)


@transition("form.demander_complements", StepKind.form, {"en_instruction"},
            {"complements_demandes"}, can=can_demander_complements,
            audit="{step}.demander_complements", event="form.complements_demandes",
            verb="a demandé des compléments sur l'étape « {step} »")
def demander_complements(candidature: Candidature, step_code: str, *, actor: User,
                         message: str) -> None:
    """form step: en_instruction -> complements_demandes (the vendor must answer)."""
    body = require_text(message, "Le message est obligatoire : indiquez les pièces "
                                 "manquantes ou à corriger.")
    step = _ensure_decider(actor, candidature, step_code)
    before = step.status
    step.status = "complements_demandes"
    delays.pause_clock(step, candidature.demarche_code, now())
    touch(candidature)
    audit.record(actor, f"{step_code}.demander_complements", step, candidature=candidature,
                 before={"status": before}, after={"status": step.status, "message": body})
    post_system_message(candidature, "form.complements_demandes", step=step_label(step_code),
                        body=body)


@transition("form.rejeter", StepKind.form, {"en_instruction"}, {"rejetee"}, can=can_rejeter,
            audit="{step}.rejeter", event="form.rejetee",
            verb="a rejeté la candidature à l'étape « {step} »")
def rejeter(candidature: Candidature, step_code: str, *, actor: User, motif: str) -> None:
    """form step: en_instruction -> rejetee; the candidature ends rejetee."""
    body = require_text(motif, "Le motif du rejet est obligatoire.")
    step = _ensure_decider(actor, candidature, step_code)
    at = now()
    before = step.status
    step.status, step.decided_at, step.decided_by = "rejetee", at, actor
    step.informative = is_informative(candidature, step_code)
    close(candidature, CandidatureStatus.rejetee)
    touch(candidature)
    audit.record(actor, f"{step_code}.rejeter", step, candidature=candidature,
                 before={"status": before}, after={"status": step.status, "motif": body})
    post_system_message(candidature, "form.rejetee", step=step_label(step_code), body=body)


# --- what the vendor files before submitting (not status changes, but gated by them) ---

EDITABLE = {"brouillon", "complements_demandes"}


def enregistrer_formulaire(candidature: Candidature, step_code: str, data: dict, *,
                           actor: Actor) -> StepForm:
    """Save (replace) the form of a form step while the vendor holds it."""
    ensure_allowed(is_industriel_of(actor, candidature))
    ensure_open(candidature)
    step = _form_step(candidature, step_code)
    ensure_status(step, EDITABLE)
    if data.get("profils") is not None:
        from backoffice.workflow.referentiels import check_profils

        check_profils(candidature, data["profils"])
    form = db.scalar(select(StepForm).where(
        StepForm.candidature_id == candidature.id, StepForm.step == step_code))
    if form is None:
        form = StepForm(candidature_id=candidature.id, step=step_code, data={})
        db.add(form)
    form.data = dict(data)
    contact = data.get("contact") or {}
    if contact.get("email"):
        candidature.contact_email = contact["email"]
    if "consentement_email" in data:
        candidature.email_opt_in = bool(data["consentement_email"])
    touch(candidature)
    db.flush()
    audit.record(actor, f"{step_code}.enregistrer_formulaire", form, candidature=candidature,
                 after={"blocks": sorted(data)})
    return form


def piece_type(candidature: Candidature, step_code: str, type_code: str) -> PieceType:
    found = db.scalar(select(PieceType).where(
        PieceType.parcours == candidature.demarche.parcours, PieceType.step == step_code,
        PieceType.code == type_code))
    if found is None:
        raise InvalidInput("unknown_piece_type",
                           f"Type de pièce inconnu pour l'étape « {step_label(step_code)} » : "
                           f"« {type_code} ».")
    return found


def ajouter_piece(candidature: Candidature, step_code: str, type_code: str, fichier, *,
                  actor: Actor) -> Piece:
    """Attach a pièce justificative to a form step the vendor holds."""
    ensure_allowed(is_industriel_of(actor, candidature))
    ensure_open(candidature)
    step = _form_step(candidature, step_code)
    ensure_status(step, EDITABLE)
    piece_type(candidature, step_code, type_code)
    piece = Piece(candidature_id=candidature.id, step=step_code, type_code=type_code,
                  fichier_id=fichier.id)
    db.add(piece)
    touch(candidature)
    db.flush()
    audit.record(actor, f"{step_code}.ajouter_piece", piece, candidature=candidature,
                 after={"type": type_code, "fichier": fichier.original_name})
    return piece


def current_form_step(candidature: Candidature) -> str | None:
    step = candidature.current
    return step.step if STEPS[step.step].kind == StepKind.form else None
