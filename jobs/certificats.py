"""Certificate / référencement issuance after a favourable decision. Issued exactly once:
the certificate row is unique per candidature, and a job finding the work done only moves
the step. Retried with backoff; the last failure is recorded as echec_emission."""

from __future__ import annotations

import logging

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature
from backoffice.workflow import emission
from backoffice.workflow.base import Systeme, load_for_update
from jobs import checkpoint, job

log = logging.getLogger(__name__)
SYSTEME = Systeme("émission des certificats")


def _last_attempt() -> bool:
    try:
        from rq import get_current_job

        current = get_current_job()
    except Exception:
        current = None
    return current is None or not current.retries_left


@job(retries=3)
def emettre(candidature_id: int) -> str | None:
    from backoffice.certificates import issue

    reference = db.scalar(select(Candidature.reference).where(Candidature.id == candidature_id))
    if reference is None:
        return None
    candidature = load_for_update(reference)
    if candidature is None:
        db.rollback()
        return None  # gone since its reference was read: nothing to issue
    step = candidature.current
    if candidature.status != "en_cours" or step.step not in emission.DOCUMENTS or \
            step.status != "emission_en_cours":
        db.rollback()
        return None  # already issued, or not (yet) to issue
    try:
        cert = issue(candidature, step.step)
        number = cert.number  # read before the commit expires it
        emission.emission_reussie(candidature, actor=SYSTEME, numero=number,
                                  document=cert.fichier,
                                  numero_referencement=cert.numero_referencement)
        checkpoint("the issuance: a failed commit is a failed issuance (below)")
        return number
    except Exception as error:
        db.rollback()
        log.exception("issuance failed for candidature %s", reference)
        if _last_attempt():
            candidature = load_for_update(reference)
            if candidature is not None:  # gone: no step left to record the failure on
                emission.emission_echouee(candidature, actor=SYSTEME,
                                          erreur=f"{type(error).__name__}: {error}"[:500])
                checkpoint("the failure is recorded before the error is raised")
        raise


@job(retries=0)
def rattraper(older_than_minutes: float | None = None) -> int:
    """Queue again every issuance still pending (after a lost queue or a killed worker):
    safe, since issuing twice is impossible. With `older_than_minutes`, only those whose
    candidature has not moved for that long (the periodic job: a fresh issuance is still
    in its queue or its retries)."""
    from datetime import timedelta

    from backoffice.db import utcnow
    from backoffice.models import CandidatureStep
    from backoffice.tasks import enqueue

    query = select(Candidature.id).join(CandidatureStep, (
        CandidatureStep.candidature_id == Candidature.id) & (
        CandidatureStep.step == Candidature.current_step)).where(
        Candidature.status == "en_cours", CandidatureStep.status == "emission_en_cours")
    if older_than_minutes is not None:
        query = query.where(Candidature.last_activity_at
                            < utcnow() - timedelta(minutes=older_than_minutes))
    ids = db.scalars(query.order_by(Candidature.id)).all()
    checkpoint("nothing written: the transaction ends so that in-process issuances "
               "(embedded mode) can write — SQLite would refuse them (« database is locked »)")
    for candidature_id in ids:
        enqueue("certificats.emettre", candidature_id)
    return len(ids)


@job(retries=0)
def rattraper_bloquees() -> int:
    """The periodic job: issuances pending for longer than ISSUANCE_RETRY_AFTER_MINUTES
    (30 by default) are queued again."""
    from jobs import _settings

    return rattraper(_settings.number("ISSUANCE_RETRY_AFTER_MINUTES", 30))
