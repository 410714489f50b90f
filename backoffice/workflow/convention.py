"""Convention: a_envoyer -> envoyee (Yousign request) -> signee -> validee. From Yousign's
webhook: expiree (sent again later), declined or canceled (back to a_envoyer)."""

from __future__ import annotations

from sqlalchemy import select

from backoffice import audit, conventions, yousign
from backoffice.db import db
from backoffice.models import Candidature, Convention, Fichier, User
from backoffice.tasks import schedule
from backoffice.workflow import delays
from backoffice.workflow.base import (
    Actor,
    InvalidInput,
    TransitionError,
    ensure_allowed,
    ensure_open,
    ensure_status,
    in_state,
    is_systeme,
    is_verificateur_for,
    now,
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


def verbe_envoi(candidature: Candidature) -> str:
    """The send button's verb: « Envoyer » the first time, « Renvoyer » after an expiry or
    a refusal."""
    return "Envoyer" if candidature.current.status == "a_envoyer" else "Renvoyer"


def can_envoyer(actor: Actor, candidature: Candidature, *, check_state: bool = True) -> bool:
    return _can(is_verificateur_for(actor, candidature), candidature, SENDABLE, check_state)


def can_marquer_signee(actor: Actor, candidature: Candidature, *,
                       check_state: bool = True) -> bool:
    """Yousign's webhook, or a vérificateur who attaches the signed PDF."""
    return _can(is_systeme(actor) or is_verificateur_for(actor, candidature), candidature,
                {"envoyee"}, check_state)


can_marquer_expiree = can_marquer_refusee = can_marquer_annulee = can_marquer_signee


def can_envoi_echoue(actor: Actor, candidature: Candidature, *,
                     check_state: bool = True) -> bool:
    """The sending job, on a convention being sent (envoyee with no Yousign request yet)."""
    if not _can(is_systeme(actor), candidature, {"envoyee"}, check_state):
        return False
    if not check_state:
        return True
    convention = db.scalar(select(Convention).where(Convention.candidature_id == candidature.id))
    return convention is not None and convention.sending


def can_valider(actor: Actor, candidature: Candidature, *, check_state: bool = True) -> bool:
    return _can(is_verificateur_for(actor, candidature), candidature, {"signee"}, check_state)


def _step(candidature: Candidature):
    ensure_open(candidature)
    return candidature.step("convention")


def _record(actor: Actor, candidature: Candidature, action: str, before: str, **after) -> None:
    step = candidature.step("convention")
    touch(candidature)
    audit.record(actor, f"convention.{action}", step, candidature=candidature,
                 before={"status": before}, after={"status": step.status, **after})


@transition("convention.envoyer", StepKind.convention, SENDABLE, {"envoyee"}, can=can_envoyer,
            event="convention.envoyee", verb="a envoyé la convention pour signature")
def envoyer(candidature: Candidature, *, actor: User,
            signature_request_id: str | None = None) -> None:
    """convention: a_envoyer | expiree | refusee -> envoyee: with the id of a request made
    in Yousign by hand, or (Yousign configured) queued for jobs/conventions.envoyer, which
    creates the request after this commit, never under the row lock."""
    step = _step(candidature)
    ensure_allowed(can_envoyer(actor, candidature, check_state=False))
    ensure_status(step, SENDABLE, "La convention")
    request_id = (signature_request_id or "").strip()
    who = conventions.signataire(candidature)
    if not request_id:
        if not yousign.configured():
            raise InvalidInput("yousign_not_configured",
                               "Yousign n'est pas configuré : saisissez l'identifiant de la "
                               "demande de signature créée dans Yousign.")
        if who is None:
            raise InvalidInput("no_signer",
                               "Aucun signataire connu : le formulaire ne donne ni le prénom, "
                               "ni le nom, ni l'adresse électronique du responsable légal ou "
                               "du contact.")
    before, step.status = step.status, "envoyee"
    convention = convention_of(candidature)
    convention.signature_request_id = request_id or None
    convention.document_id = convention.signer_id = None
    convention.sent_at = now()
    step.submitted_at = step.submitted_at or now()
    _record(actor, candidature, "envoyer", before, signature_request_id=request_id or None,
            mode="manuel" if request_id else "yousign",
            signataire=who.signer.email if who else None)
    if request_id:
        post_system_message(candidature, "convention.envoyee",
                            signataire=who.signer.name if who else "votre signataire")
    else:
        schedule("conventions.envoyer", candidature.id)


def enregistrer_demande(candidature: Candidature, *, actor: Actor,
                        demande: yousign.SignatureRequest, signataire: str) -> None:
    """convention: envoyee (being sent) — the Yousign request now exists (the job)."""
    step = _step(candidature)
    ensure_allowed(is_systeme(actor))
    ensure_status(step, {"envoyee"}, "La convention")
    convention = convention_of(candidature)
    if not convention.sending:
        raise TransitionError("not_sending", "La convention n'est pas en cours d'envoi.")
    convention.signature_request_id = demande.id
    convention.document_id, convention.signer_id = demande.document_id, demande.signer_id
    touch(candidature)
    audit.record(actor, "convention.demande_creee", step, candidature=candidature,
                 after={"signature_request_id": demande.id, "signataire": signataire})
    post_system_message(candidature, "convention.envoyee", signataire=signataire)


@transition("convention.envoi_echoue", StepKind.convention, {"envoyee"}, {"a_envoyer"},
            can=can_envoi_echoue, event="convention.envoi_echoue",
            verb="a constaté l'échec de l'envoi à Yousign")
def envoi_echoue(candidature: Candidature, *, actor: Actor, erreur: str) -> None:
    """convention: envoyee (being sent) -> a_envoyer (Yousign refused, or kept failing)."""
    step = _step(candidature)
    ensure_allowed(can_envoi_echoue(actor, candidature, check_state=False))
    ensure_status(step, {"envoyee"}, "La convention")
    convention = convention_of(candidature)
    if not convention.sending:
        raise TransitionError("not_sending", "La convention n'est pas en cours d'envoi.")
    before, step.status = step.status, "a_envoyer"
    convention.sent_at = None
    _record(actor, candidature, "envoi_echoue", before, erreur=erreur[:500])
    post_system_message(candidature, "convention.envoi_echoue")


@transition("convention.marquer_signee", StepKind.convention, {"envoyee"}, {"signee"},
            can=can_marquer_signee, event="convention.signee",
            verb="a enregistré la signature de la convention")
def marquer_signee(candidature: Candidature, *, actor: Actor,
                   signed_file: Fichier | None = None) -> None:
    """convention: envoyee -> signee (Yousign webhook, or a vérificateur with the PDF). From
    Yousign, the signed document and the audit trail are then downloaded (a job)."""
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
    if is_systeme(actor) and convention.document_id and convention.signer_id:
        schedule("conventions.telecharger", candidature.id)


def joindre_documents(candidature: Candidature, *, actor: Actor, signed: Fichier,
                      audit_trail: Fichier) -> None:
    """convention: signee or later — Yousign's signed document and audit trail join the
    dossier and the thread (the vendor gets them too)."""
    ensure_allowed(is_systeme(actor))
    step = candidature.step("convention")
    ensure_status(step, {"signee", "validee"}, "La convention")
    convention = convention_of(candidature)
    if convention.audit_trail_fichier_id is not None:
        raise TransitionError("already_done", "Les documents signés sont déjà au dossier.")
    if convention.signed_fichier_id is None:
        convention.signed_fichier_id = signed.id
    convention.audit_trail_fichier_id = audit_trail.id
    touch(candidature)
    audit.record(actor, "convention.documents_recus", step, candidature=candidature,
                 after={"document_signe": signed.id, "dossier_de_preuve": audit_trail.id})
    post_system_message(candidature, "convention.documents", attachments=[signed, audit_trail])


def _yousign_outcome(candidature: Candidature, actor: Actor, target: str, event: str,
                     **values: str) -> None:
    step = _step(candidature)
    ensure_allowed(can_marquer_signee(actor, candidature, check_state=False))
    ensure_status(step, {"envoyee"}, "La convention")
    before, step.status = step.status, target
    if target == "a_envoyer":  # that request is over: the next sending makes a new one
        convention = convention_of(candidature)
        convention.signature_request_id = convention.document_id = None
        convention.signer_id, convention.sent_at = None, None
    _record(actor, candidature, f"marquer_{event}", before, **values)
    post_system_message(candidature, f"convention.{event}", attachments=(), **values)


@transition("convention.marquer_expiree", StepKind.convention, {"envoyee"}, {"expiree"},
            can=can_marquer_expiree, event="convention.expiree",
            verb="a constaté l'expiration de la demande de signature")
def marquer_expiree(candidature: Candidature, *, actor: Actor) -> None:
    """convention: envoyee -> expiree (Yousign)."""
    _yousign_outcome(candidature, actor, "expiree", "expiree")


@transition("convention.marquer_refusee", StepKind.convention, {"envoyee"}, {"a_envoyer"},
            can=can_marquer_refusee, event="convention.refusee",
            verb="a constaté le refus de signature")
def marquer_refusee(candidature: Candidature, *, actor: Actor, motif: str | None = None) -> None:
    """convention: envoyee -> a_envoyer (the signer declined in Yousign; the motive goes to
    the thread)."""
    _yousign_outcome(candidature, actor, "a_envoyer", "refusee",
                     body=(motif or "").strip()[:2000] or "non précisé")


@transition("convention.marquer_annulee", StepKind.convention, {"envoyee"}, {"a_envoyer"},
            can=can_marquer_annulee, event="convention.annulee",
            verb="a constaté l'annulation de la demande de signature")
def marquer_annulee(candidature: Candidature, *, actor: Actor) -> None:
    """convention: envoyee -> a_envoyer (the request was canceled in Yousign)."""
    _yousign_outcome(candidature, actor, "a_envoyer", "annulee")


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
