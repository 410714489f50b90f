"""Housekeeping run by the worker's periodic jobs (jobs.periodiques): pushing the jobs
kept in the outbox, forgetting those sent long ago, removing what crashed uploads left
in the store's temp folder and the quarantined files past their retention. Each is safe
to run twice and at once on several hosts (the periodic lock makes that rare anyway)."""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta
from pathlib import Path

from flask import current_app

from jobs import _settings, job

log = logging.getLogger(__name__)


@job(retries=0)
def pousser_taches() -> int:
    """Push the jobs kept in the outbox while Redis was unreachable (`flask
    pousser-taches` by hand)."""
    from backoffice.tasks import push_outbox

    if not current_app.config.get("REDIS_URL"):
        return 0
    return push_outbox()


@job(retries=0)
def purger_taches() -> int:
    """Forget the outbox's jobs sent more than JOB_OUTBOX_RETENTION_DAYS ago (7)."""
    from backoffice.tasks import purge_outbox

    return purge_outbox(timedelta(days=_settings.number("JOB_OUTBOX_RETENTION_DAYS", 7)))


@job(retries=0)
def purger_temporaires() -> int:
    """Remove the upload temp files untouched for UPLOAD_TMP_MAX_AGE_HOURS (24): an
    upload in progress writes to its file all the time, a crashed one never again."""
    from backoffice.uploads import storage

    store = storage()
    purge = getattr(store, "purge_tmp", None)
    if purge is None:  # a store without a temp folder of its own
        return 0
    removed = purge(older_than=_settings.number("UPLOAD_TMP_MAX_AGE_HOURS", 24) * 3600)
    if removed:
        log.info("%d stale upload temp file(s) removed", removed)
    return removed


@job(retries=0)
def purger_quarantaine() -> int:
    """Remove the quarantined files older than QUARANTINE_RETENTION_DAYS (90): long
    enough to answer a vendor or an investigation; the audit trail keeps the file's
    name, hash and signature for ever."""
    from backoffice.antivirus import quarantine_dir

    folder: Path = quarantine_dir()
    if not folder.is_dir():
        return 0
    limit = time.time() - _settings.number("QUARANTINE_RETENTION_DAYS", 90) * 86400
    removed = 0
    for entry in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if entry.is_file() and not entry.is_symlink() and entry.stat().st_mtime < limit:
                entry.unlink()
                removed += 1
    if removed:
        log.info("%d quarantined file(s) past their retention removed", removed)
    return removed


@job(retries=0)
def recompter_files() -> int:
    """Rebuild the home page's counts, the follows and the holdings from the candidatures
    (`flask recompter-files`): the transactions keep them; this heals what was written
    outside the application."""
    from backoffice.db import db
    from backoffice.models.follow import refollow
    from backoffice.models.queue_count import recount

    refollow(db)  # first: a flush writes the holdings before the counts (models/follow.py)
    return recount(db)  # the job's unit of work commits it
