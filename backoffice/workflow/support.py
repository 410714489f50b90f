"""The support desk removes an erroneous upload on the vendor's request ("en précisant
votre référence de candidature, et le nom exact du fichier à supprimer"): the bytes leave
the store after commit, a tombstone keeps what, who, when and why; the file leaves review
and zip analysis; the vendor's thread says so; an audit event records it."""

from __future__ import annotations

from sqlalchemy import select

from backoffice import audit
from backoffice.db import db
from backoffice.models import (
    Candidature,
    CandidatureExigence,
    Certificat,
    Convention,
    Fichier,
    Piece,
    Preuve,
    User,
    ZipPourAvis,
)
from backoffice.tasks import after_commit
from backoffice.workflow.base import (
    TransitionError,
    ensure_allowed,
    ensure_open,
    in_state,
    now,
    require_text,
    step_of,
    touch,
    transition,
)
from backoffice.workflow.definitions import StepKind
from backoffice.workflow.messages import post_system_message

REOPEN_FIRST = ("Ce fichier appartient à un tour déjà validé : un vérificateur doit d'abord "
                "rouvrir la section (ou l'étape) avant qu'il puisse être supprimé.")


def is_support(actor: User) -> bool:
    return isinstance(actor, User) and actor.active and actor.has_role("support")


def usage(fichier: Fichier) -> dict:
    """What the file is for: pièce (step), preuve (section, exigence, round), zip."""
    piece = db.scalar(select(Piece).where(Piece.fichier_id == fichier.id))
    if piece is not None:
        return {"kind": "piece", "piece": piece}
    preuve = db.scalar(select(Preuve).where(Preuve.fichier_id == fichier.id))
    if preuve is not None:
        exigence = db.get(CandidatureExigence, preuve.exigence_id)
        if exigence is None:  # a preuve goes with its exigence (cascade)
            raise LookupError(f"preuve {preuve.id}: exigence absente")
        return {"kind": "preuve", "preuve": preuve, "exigence": exigence,
                "section": exigence.section}
    upload = db.scalar(select(ZipPourAvis).where(ZipPourAvis.fichier_id == fichier.id))
    if upload is not None:
        return {"kind": "zip", "upload": upload}
    return {"kind": "autre"}


def _ans_document(fichier: Fichier) -> bool:
    return bool(db.scalar(select(Certificat.id).where(Certificat.fichier_id == fichier.id)) or
                db.scalar(select(Convention.id).where(
                    Convention.signed_fichier_id == fichier.id)))


def _remove_zip(candidature: Candidature, upload: ZipPourAvis, actor: User) -> None:
    """The deleted zip leaves; the previous one (if any) becomes current again."""
    step = candidature.step("preuves_pour_avis")
    if step.status == "avis_rendu":
        raise TransitionError("validated_round", REOPEN_FIRST)
    if upload.superseded_at is not None:
        return
    upload.superseded_at = now()
    previous = db.scalar(
        select(ZipPourAvis).join(Fichier, Fichier.id == ZipPourAvis.fichier_id)
        .where(ZipPourAvis.candidature_id == candidature.id, ZipPourAvis.id != upload.id,
               Fichier.deleted_at.is_(None)).order_by(ZipPourAvis.id.desc()).limit(1))
    if previous is not None:
        previous.superseded_at = None
    else:
        retirer_depot(candidature, actor=actor)


def can_retirer_depot(actor: User, candidature: Candidature, *,
                      check_state: bool = True) -> bool:
    return is_support(actor) and (
        not check_state
        or in_state(candidature, step_of(candidature, "preuves_pour_avis"), {"deposees"}))


@transition("pour_avis.retirer", StepKind.preuves_pour_avis, {"deposees"}, {"en_attente_depot"},
            can=can_retirer_depot, verb="a retiré le dépôt des preuves pour avis")
def retirer_depot(candidature: Candidature, *, actor: User) -> None:
    """preuves_pour_avis: deposees -> en_attente_depot (its only zip was deleted)."""
    ensure_allowed(can_retirer_depot(actor, candidature, check_state=False))
    ensure_open(candidature)
    step = candidature.step("preuves_pour_avis")
    if step.status != "deposees":
        raise TransitionError("invalid_status", "Aucun dépôt à retirer.")
    step.status = "en_attente_depot"
    audit.record(actor, "pour_avis.retirer", step, candidature=candidature,
                 before={"status": "deposees"}, after={"status": step.status})


def supprimer_fichier(fichier: Fichier, *, actor: User, motif: str, demande: str) -> None:
    ensure_allowed(is_support(actor), "Seul le support supprime des fichiers.")
    motif = require_text(motif, "Le motif de la suppression est obligatoire.")
    demande = require_text(demande, "La référence de la demande de l'industriel est "
                                    "obligatoire.")[:100]
    if fichier.deleted_at is not None:
        raise TransitionError("already_deleted", "Ce fichier a déjà été supprimé.")
    if _ans_document(fichier):
        raise TransitionError("ans_document", "Ce document a été produit par l'ANS : il ne "
                                              "peut pas être supprimé par le support.")
    candidature = db.get(Candidature, fichier.candidature_id)
    if candidature is None:  # a file goes with its candidature (cascade)
        raise LookupError(f"fichier {fichier.id}: candidature absente")
    used = usage(fichier)
    if used["kind"] == "preuve":
        if used["section"].status == "validee":
            raise TransitionError("validated_round", REOPEN_FIRST)
        used["preuve"].archived_at = used["preuve"].archived_at or now()
    elif used["kind"] == "piece":
        if candidature.step(used["piece"].step).status == "validee":
            raise TransitionError("validated_round", REOPEN_FIRST)
        used["piece"].archived_at = used["piece"].archived_at or now()
    elif used["kind"] == "zip":
        _remove_zip(candidature, used["upload"], actor)
    before = {"name": fichier.original_name, "sha256": fichier.sha256, "size": fichier.size,
              "usage": used["kind"]}
    fichier.deleted_at, fichier.deleted_by_id = now(), actor.id
    fichier.deletion_motive, fichier.deletion_request = motif, demande
    touch(candidature)
    audit.record(actor, "support.supprimer_fichier", fichier, candidature=candidature,
                 before=before, after={"motif": motif, "demande": demande})
    post_system_message(candidature, "support.fichier_supprime", name=fichier.original_name,
                        body=motif, demande=demande)
    from backoffice.uploads import storage

    key = fichier.storage_key
    after_commit(lambda: storage().delete(key))  # bytes go once the tombstone is committed
