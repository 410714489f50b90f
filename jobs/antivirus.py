"""Antivirus scan of each upload by the ClamAV daemon (queue "antivirus"). No
transaction is held while clamd reads the file; the verdict is written under a row lock,
once. An unreachable scanner leaves the file in "erreur" and raises, so that RQ retries;
`rattraper` (flask analyser-fichiers) queues again whatever is still to scan."""

from __future__ import annotations

import logging

from sqlalchemy import select

from backoffice import antivirus
from backoffice.db import db
from backoffice.models import Fichier
from backoffice.workflow import antivirus as verdicts
from jobs import checkpoint, job

log = logging.getLogger(__name__)


def _locked(fichier_id: int) -> Fichier | None:
    return db.scalar(select(Fichier).where(Fichier.id == fichier_id).with_for_update())


def _quarantine(fichier: Fichier) -> None:
    antivirus.quarantine(fichier.storage_key, f"fichier-{fichier.id}")


@job(retries=3)
def analyser(fichier_id: int) -> str | None:
    """Scan one file; return its new scan status (None when there was nothing to do)."""
    fichier = db.get(Fichier, fichier_id)
    if fichier is None or fichier.deleted_at is not None:
        return None
    if fichier.scan_status == "infecte":
        _quarantine(fichier)  # finish a run that stopped between commit and move
        return None
    if fichier.scan_status not in verdicts.TO_SCAN:
        return None
    key = fichier.storage_key
    checkpoint("nothing written: no transaction, hence no lock, while clamd reads")
    try:
        verdict = antivirus.scan_stored(key)
    except antivirus.ScanError as error:
        fichier = _locked(fichier_id)
        if fichier is None or fichier.deleted_at is not None or \
                fichier.scan_status not in verdicts.TO_SCAN:
            db.rollback()
            return None
        verdicts.declarer_erreur(fichier, detail=str(error))
        checkpoint("the error is recorded before it is raised (RQ retries)")
        if isinstance(error, antivirus.ScannerUnavailable):
            raise  # RQ retries (jobs.job's retries); the file stays unopenable meanwhile
        log.error("antivirus scan of file %s failed: %s", fichier_id, error)
        return "erreur"
    fichier = _locked(fichier_id)
    if fichier is None or fichier.deleted_at is not None or \
            fichier.scan_status not in verdicts.TO_SCAN:
        db.rollback()  # another run got there first
        return None
    if verdict.infected:
        verdicts.declarer_infecte(fichier, signature=verdict.signature or "inconnue")
        checkpoint("infected is recorded before the file moves to quarantine")
        _quarantine(fichier)
        log.warning("file %s infected (%s): quarantined", fichier_id, verdict.signature)
    else:
        verdicts.declarer_sain(fichier)  # committed by the job's unit of work
    return fichier.scan_status


@job(retries=0)
def rattraper(older_than_minutes: float | None = None) -> int:
    """Queue again the scan of every file waiting for it or whose scan failed; with
    `older_than_minutes`, only those uploaded (waiting) or last tried (failed) that long
    ago — a fresh upload's scan is still in its queue."""
    from datetime import timedelta

    from sqlalchemy import and_, or_

    from backoffice.db import utcnow
    from backoffice.tasks import enqueue

    query = select(Fichier.id).where(
        Fichier.scan_status.in_(sorted(verdicts.TO_SCAN)), Fichier.deleted_at.is_(None))
    if older_than_minutes is not None:
        before = utcnow() - timedelta(minutes=older_than_minutes)
        query = query.where(or_(
            and_(Fichier.scan_status == "en_attente", Fichier.uploaded_at < before),
            and_(Fichier.scan_status == "erreur", or_(Fichier.scanned_at.is_(None),
                                                     Fichier.scanned_at < before))))
    ids = db.scalars(query.order_by(Fichier.id)).all()
    checkpoint("nothing written: SQLite's lock released before the scans queued next write")
    for fichier_id in ids:
        enqueue("antivirus.analyser", fichier_id)
    return len(ids)


@job(retries=0)
def rattraper_en_retard() -> int:
    """The periodic job: files waiting for their scan, or whose scan failed, for longer
    than ANTIVIRUS_RETRY_AFTER_MINUTES (15) are scanned again. Nothing when no antivirus
    is configured."""
    from jobs import _settings

    if not antivirus.configured():
        return 0
    return rattraper(_settings.number("ANTIVIRUS_RETRY_AFTER_MINUTES", 15))
