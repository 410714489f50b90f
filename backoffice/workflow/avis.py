"""Ligne générique in phase transitoire: the vendor uploads one zip of preuves named after
the exigence codes (successive uploads supersede each other); the vérificateur gives an
avis informatif per exigence and overall."""

from __future__ import annotations

from sqlalchemy import select

from backoffice import audit
from backoffice.db import db
from backoffice.models import Avis, Candidature, Fichier, User, ZipPourAvis
from backoffice.workflow import delays
from backoffice.workflow.base import (
    Actor,
    InvalidInput,
    ensure_allowed,
    ensure_open,
    ensure_status,
    is_industriel_of,
    is_verificateur_for,
    now,
    require_text,
    touch,
    transition,
)
from backoffice.workflow.definitions import CandidatureStatus, StepKind
from backoffice.workflow.messages import post_system_message
from backoffice.workflow.steps import close


def current_zip(candidature: Candidature) -> ZipPourAvis | None:
    return db.scalar(select(ZipPourAvis).where(
        ZipPourAvis.candidature_id == candidature.id, ZipPourAvis.superseded_at.is_(None)))


@transition("pour_avis.deposer", StepKind.preuves_pour_avis,
            {"en_attente_depot", "deposees"}, {"deposees"})
def deposer_zip(candidature: Candidature, *, actor: Actor, fichier: Fichier,
                report: dict) -> ZipPourAvis:
    """preuves_pour_avis: en_attente_depot | deposees -> deposees (supersedes the last)."""
    ensure_allowed(is_industriel_of(actor, candidature))
    ensure_open(candidature)
    step = candidature.step("preuves_pour_avis")
    ensure_status(step, {"en_attente_depot", "deposees"}, "Le dépôt des preuves pour avis")
    at = now()
    previous = current_zip(candidature)
    if previous is not None:
        previous.superseded_at = at
    upload = ZipPourAvis(candidature_id=candidature.id, fichier_id=fichier.id, report=report)
    db.add(upload)
    before = step.status
    step.status, step.submitted_at = "deposees", step.submitted_at or at
    delays.start_clock(step, candidature.demarche_code, at)
    touch(candidature)
    db.flush()
    audit.record(actor, "pour_avis.deposer", upload, candidature=candidature,
                 before={"status": before},
                 after={"status": step.status, "fichier": fichier.original_name,
                        "supersedes": previous.id if previous else None})
    post_system_message(candidature, "pour_avis.deposees", name=fichier.original_name)
    return upload


@transition("pour_avis.rendre_avis", StepKind.preuves_pour_avis, {"deposees"}, {"avis_rendu"})
def rendre_avis(candidature: Candidature, *, actor: User, par_exigence: dict[str, str],
                message: str) -> None:
    """preuves_pour_avis: deposees -> avis_rendu; the candidature ends avis_rendu."""
    ensure_allowed(is_verificateur_for(actor, candidature))
    ensure_open(candidature)
    step = candidature.step("preuves_pour_avis")
    ensure_status(step, {"deposees"}, "Le dépôt des preuves pour avis")
    overall = require_text(message, "L'avis global est obligatoire.")
    upload = current_zip(candidature)
    if upload is None:
        raise InvalidInput("no_zip", "Aucune archive à examiner.")
    for code, text in par_exigence.items():
        if text and text.strip():
            db.add(Avis(candidature_id=candidature.id, zip_id=upload.id, exigence_code=code,
                        text=text.strip(), author_id=actor.id))
    db.add(Avis(candidature_id=candidature.id, zip_id=upload.id, exigence_code=None,
                text=overall, author_id=actor.id))
    before = step.status
    step.status, step.decided_at, step.decided_by = "avis_rendu", now(), actor
    close(candidature, CandidatureStatus.avis_rendu)
    touch(candidature)
    audit.record(actor, "pour_avis.rendre_avis", step, candidature=candidature,
                 before={"status": before},
                 after={"status": step.status, "exigences": sorted(par_exigence)})
    post_system_message(candidature, "pour_avis.avis_rendu", body=overall)
