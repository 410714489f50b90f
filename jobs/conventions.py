"""The convention's round trips to Yousign, out of any request and of any row lock: create
the signature request once a vérificateur has sent the convention, download the signed
document and the audit trail once Yousign says it is signed. Each re-reads the database
and does nothing if the work is done; the HTTP calls happen with no transaction open."""

from __future__ import annotations

import io
import logging

from sqlalchemy import select

from backoffice import antivirus, conventions, yousign
from backoffice.db import db
from backoffice.models import Candidature, Convention, Fichier
from backoffice.tasks import schedule
from backoffice.workflow import convention
from backoffice.workflow.base import Systeme, TransitionError, load_for_update
from jobs import checkpoint, job, last_attempt

log = logging.getLogger(__name__)
SYSTEME = Systeme("envoi des conventions (Yousign)")


def _convention(candidature_id: int) -> tuple[Candidature, Convention] | None:
    candidature = db.get(Candidature, candidature_id)
    found = db.scalar(select(Convention).where(Convention.candidature_id == candidature_id))
    if candidature is None or found is None:
        return None
    return candidature, found


@job(retries=3)
def envoyer(candidature_id: int) -> str | None:
    """Create and activate the Yousign request of a convention being sent."""
    loaded = _convention(candidature_id)
    if loaded is None or loaded[0].status != "en_cours" or \
            loaded[0].step("convention").status != "envoyee" or not loaded[1].sending:
        db.rollback()
        return None  # already sent, or no longer to send
    candidature = loaded[0]
    reference = candidature.reference
    try:
        who = conventions.signataire(candidature)
        if who is None:
            raise yousign.YousignError("Aucun signataire connu dans le formulaire.")
        document = conventions.render(candidature, who)
        db.rollback()  # no transaction, hence no lock, while Yousign is called
        demande = yousign.create_signature_request(
            document.title, document.data, f"convention-{reference}.pdf", who.signer,
            document.field, external_id=reference)
    except Exception as error:
        db.rollback()
        retryable = not isinstance(error, yousign.YousignError) or error.retryable
        if retryable and not last_attempt():
            raise  # the worker tries again later (RQ's retry intervals)
        log.warning("convention of %s not sent: %s", reference, error)
        _echec(reference, error)
        if not isinstance(error, yousign.YousignError):
            raise  # a bug: recorded on the dossier, and visible as a failed job
        return None
    locked = load_for_update(reference)
    if locked is None:  # gone meanwhile: as when the step moved (below)
        log.warning("Yousign request %s of %s left unused (no candidature)", demande.id,
                    reference)
        return None
    candidature = locked
    try:
        convention.enregistrer_demande(candidature, actor=SYSTEME, demande=demande,
                                       signataire=who.signer.name)
    except TransitionError as error:
        db.rollback()
        log.warning("Yousign request %s of %s left unused (%s)", demande.id, reference,
                    error.code)
        return None
    return demande.id  # the request's id, committed by the job's unit of work


def _echec(reference: str, error: Exception) -> None:
    """The step goes back to « à envoyer », the reason in the audit trail."""
    candidature = load_for_update(reference)
    if candidature is None:
        return  # gone: no step to move back
    try:
        convention.envoi_echoue(candidature, actor=SYSTEME,
                                erreur=f"{type(error).__name__}: {error}")
    except TransitionError:
        db.rollback()
        return
    checkpoint("back « à envoyer », told in the thread, before the error is raised")


def _store(candidature: Candidature, name: str, data: bytes, kept: list[str]) -> Fichier:
    from backoffice.storage import sanitize_filename
    from backoffice.uploads import storage

    stored = storage().save(io.BytesIO(data), max_size=len(data) + 1, allowed={"pdf"})
    kept.append(stored.key)
    fichier = Fichier(candidature_id=candidature.id, storage_key=stored.key,
                      original_name=sanitize_filename(name), size=stored.size,
                      sha256=stored.sha256, kind=stored.kind, content_type=stored.content_type,
                      scan_status="en_attente" if antivirus.configured() else "sans_objet")
    db.add(fichier)
    db.flush()
    if fichier.scan_status == "en_attente":
        schedule("antivirus.analyser", fichier.id)
    return fichier


@job(retries=3)
def telecharger(candidature_id: int) -> int | None:
    """Download the signed convention and Yousign's audit trail into the dossier."""
    loaded = _convention(candidature_id)
    if loaded is None:
        db.rollback()
        return None
    candidature, found = loaded
    request_id, document_id, signer_id = (found.signature_request_id, found.document_id,
                                          found.signer_id)
    if found.audit_trail_fichier_id is not None or not (
            request_id and document_id and signer_id):
        db.rollback()
        return None
    reference = candidature.reference
    db.rollback()
    signed = yousign.download_document(request_id, document_id)
    trail = yousign.download_audit_trail(request_id, signer_id)
    from backoffice.uploads import storage

    kept: list[str] = []
    try:
        locked = load_for_update(reference)
        if locked is None:
            return None  # gone meanwhile: nothing stored yet
        candidature = locked
        convention.joindre_documents(
            candidature, actor=SYSTEME,
            signed=_store(candidature, f"convention-{reference}-signee.pdf", signed, kept),
            audit_trail=_store(candidature, f"convention-{reference}-dossier-de-preuve.pdf",
                               trail, kept))
        checkpoint("the files' rows with the bytes just stored: a failed commit removes "
                   "the bytes (below)")
    except BaseException as error:
        db.rollback()
        for key in kept:
            storage().delete(key)
        if isinstance(error, TransitionError):
            return None  # already there
        raise
    return candidature_id


@job(retries=0)
def rattraper(older_than_minutes: float = 30) -> int:
    """Queue again the conventions still being sent, or signed without their downloaded
    documents, for longer than `older_than_minutes` (a lost queue, a killed worker): both
    jobs do nothing when their work is done. Returns how many were queued."""
    from datetime import timedelta

    from backoffice.db import utcnow
    from backoffice.tasks import enqueue

    since = utcnow() - timedelta(minutes=older_than_minutes)
    sending = db.scalars(select(Convention.candidature_id).where(
        Convention.sent_at.is_not(None), Convention.signature_request_id.is_(None),
        Convention.sent_at < since)).all()
    signed = db.scalars(select(Convention.candidature_id).where(
        Convention.signed_at.is_not(None), Convention.signed_at < since,
        Convention.document_id.is_not(None), Convention.signer_id.is_not(None),
        Convention.audit_trail_fichier_id.is_(None))).all()
    checkpoint("nothing written: the transaction ends before the jobs queued next write "
               "(in process, SQLite's write lock)")
    for candidature_id in sending:
        enqueue("conventions.envoyer", candidature_id)
    for candidature_id in signed:
        enqueue("conventions.telecharger", candidature_id)
    return len(sending) + len(signed)


@job(retries=0)
def rattraper_bloquees() -> int:
    """The periodic job: CONVENTION_RETRY_AFTER_MINUTES (30 by default)."""
    from jobs import _settings

    return rattraper(_settings.number("CONVENTION_RETRY_AFTER_MINUTES", 30))
