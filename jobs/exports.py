"""Queue exports too large to stream (issue 19, item 3): the job writes the file in
constant memory, reporting its progress on the export row, then e-mails the requester;
a periodic job removes the files past EXPORT_RETENTION_HOURS."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, select, update

from backoffice.db import db, utcnow
from backoffice.models import Export, OutboxMail, User
from backoffice.queues import candidatures as queue
from backoffice.queues import export as writer
from jobs import _settings, checkpoint, job

log = logging.getLogger(__name__)

BATCH = 1000  # rows per keyset page: one bounded query each, nothing kept between pages


def retention() -> timedelta:
    return timedelta(hours=_settings.number("EXPORT_RETENTION_HOURS", 24))


def _rows(user: User, filters: queue.Filters, now: datetime) -> Iterator[queue.Row]:
    """Every row of the queue, page by page on the job's session (a page is read whole,
    no cursor stays open: the job commits its progress between pages)."""
    cursor = None
    while True:
        rows, cursor = queue.page(user, filters, after=cursor, limit=BATCH, now=now)
        yield from rows
        if cursor is None:
            return


def _progress(export_id: int) -> writer.Progress:
    def report(written: int) -> None:
        db.execute(update(Export).where(Export.id == export_id).values(rows_written=written))
        checkpoint("the progress: the Exports page reads it while the job goes on")

    return report


@job(retries=0, timeout=4 * 3600)  # a failed export is asked for again by its requester
def produire(export_id: int) -> str:
    """Write the export's file; nothing when it is not waiting any more (run twice, or by
    two workers at once: the first to move it to « en cours » writes it)."""
    now = utcnow()
    # an UPDATE's result is a CursorResult (Session.execute is typed for any statement)
    claimed = cast(CursorResult[Any], db.execute(update(Export).where(
        Export.id == export_id, Export.status == "en_attente").values(
        status="en_cours", started_at=now))).rowcount
    if not claimed:
        db.rollback()
        return db.scalar(select(Export.status).where(Export.id == export_id)) or "absent"
    export = _claimed(export_id)
    user = db.get(User, export.requester_id)
    if user is None:  # its deletion would have taken the export with it (cascade)
        raise LookupError(f"export {export_id}: requester {export.requester_id} not found")
    filters = queue.Filters.from_args(export.filters)
    export.rows_total = queue.count(user, filters, now=now)
    checkpoint("the claim and the total: the Exports page shows them while rows are written")
    folder = writer.folder()
    folder.mkdir(parents=True, exist_ok=True)
    key = writer.new_file_key(export.id, export.format)
    part = folder / f".{key}.part"
    try:
        with part.open("wb") as out:
            writer.WRITERS[export.format](_rows(user, filters, now), out, _progress(export_id))
        part.rename(writer.path_of(key))
    except Exception as error:
        db.rollback()
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        db.execute(update(Export).where(Export.id == export_id).values(
            status="echec", finished_at=utcnow(),
            error=f"{type(error).__name__}: {error}"[:2000]))
        checkpoint("the failure is recorded before the error is raised (which rolls back)")
        raise
    export = _claimed(export_id)
    finished = utcnow()
    export.status, export.file_key = "pret", key
    export.file_size = writer.path_of(key).stat().st_size
    export.finished_at, export.expires_at = finished, finished + retention()
    _notify(user, export)
    checkpoint("ready: recorded before it is logged as such")
    log.info("export %s ready: %s rows, %s bytes", export.id, export.rows_written,
             export.file_size)
    return "pret"


def _claimed(export_id: int) -> Export:
    """The export this job claimed (deleted with its requester only: cascade)."""
    export = db.get(Export, export_id)
    if export is None:
        raise LookupError(f"export {export_id} deleted while being written")
    return export


def _notify(user: User, export: Export) -> None:
    """An e-mail through the outbox (sent after commit, retried while the relay is down)."""
    from backoffice.filters import datetime_fr
    from backoffice.tasks import schedule

    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    mail = OutboxMail(
        recipient=user.email,
        subject="[Convergence] Votre export de la file est prêt",
        body=(f"Bonjour,\n\nL'export de la file que vous avez demandé ({export.description}, "
              f"{export.rows_written} ligne(s), {export.format_label}) est prêt.\n"
              f"Téléchargez-le depuis la page « Exports » : {base}/instruction/exports\n"
              f"Il y reste disponible jusqu'au {datetime_fr(export.expires_at)}.\n"),
    )
    db.add(mail)
    db.flush()
    schedule("notifications.envoyer", mail.id)


@job(retries=0)
def purger() -> int:
    """Remove the files of the exports past their retention (the row stays, marked
    expired: who exported what remains known); returns how many went."""
    expired = db.execute(select(Export.id, Export.file_key).where(
        Export.status == "pret", Export.expires_at <= utcnow())).all()
    for export_id, key in expired:
        with contextlib.suppress(FileNotFoundError):
            writer.path_of(key).unlink()
        db.execute(update(Export).where(Export.id == export_id, Export.status == "pret")
                   .values(status="expire", file_key=None))
        checkpoint("one expired export at a time: its file is gone, its row says so")
    # what a job killed while writing left behind
    limit = time.time() - retention().total_seconds()
    folder = writer.folder()
    if folder.is_dir():
        for part in folder.glob(".*.part"):
            with contextlib.suppress(FileNotFoundError):
                if part.stat().st_mtime < limit:
                    part.unlink()
    if expired:
        log.info("%d export file(s) past their retention removed", len(expired))
    return len(expired)
