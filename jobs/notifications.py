"""E-mails from the outbox. Embedded mode writes them to MAIL_OUTBOX_DIR; production
sends them to the SMTP relay. A failure leaves the mail in the outbox with its next
attempt time (backoff), so that `vider` (the worker's periodic job, or `flask send-mails`)
sends it once the relay is back.

Several senders may run at once (a periodic job on each host, a manual `send-mails`, the
`envoyer` job of a fresh mail): each one *claims* its rows before sending — selected with
`FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite takes its single write lock at BEGIN) and
leased by moving their next attempt time `LEASE` ahead, in a short transaction. No
transaction is open while the relay talks; another sender skips the leased rows, and a
sender that dies mid-batch only delays its rows until the lease ends. The outcome of each
mail is written only while the row still carries the sender's lease."""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update

from backoffice.db import db, utcnow, write_intent
from backoffice.models import Message, OutboxMail
from jobs import _settings, checkpoint, job

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF = [timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 360, 720)]
LEASE = timedelta(minutes=10)
BATCH_SIZE = 50
SMTP_TIMEOUT = 30

# A refusal of this one mail (recipient, sender, content): the connection stays usable.
_MAIL_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                smtplib.SMTPDataError, smtplib.SMTPNotSupportedError)


class RelayError(Exception):
    """The relay cannot be used at all (unreachable, TLS refused, login refused): every
    mail of the batch fails with this error and the run stops."""


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # "outbox <id> : <error>", in order

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.errors += other.errors


# --- the relay ------------------------------------------------------------------------


def tls_context() -> ssl.SSLContext:
    """Verifies the relay's certificate and host name, against the system's authorities
    or MAIL_CA_FILE (an internal relay's own CA)."""
    return ssl.create_default_context(cafile=_settings.text("MAIL_CA_FILE"))


def _connect() -> smtplib.SMTP:
    config = current_app.config
    host, port = config["MAIL_SERVER"], int(config.get("MAIL_PORT") or 25)
    try:
        if _settings.flag("MAIL_USE_SSL"):
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT,
                                                  context=tls_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
            if config.get("MAIL_USE_TLS"):
                try:
                    smtp.starttls(context=tls_context())  # checks the name against `host`
                except BaseException:
                    smtp.close()
                    raise
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    except (OSError, smtplib.SMTPException) as error:
        raise RelayError(_describe(error)) from error
    return smtp


class _SmtpRelay:
    """One SMTP connection for a whole batch, opened at the first mail."""

    def __init__(self) -> None:
        self.smtp: smtplib.SMTP | None = None

    def send(self, mail: EmailMessage) -> None:
        if self.smtp is None:
            self.smtp = _connect()
        try:
            self.smtp.send_message(mail)
        except _MAIL_ERRORS:
            raise
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise RelayError(_describe(error)) from error

    def close(self) -> None:
        if self.smtp is not None:
            smtp, self.smtp = self.smtp, None
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class _FolderRelay:
    """Embedded mode (no MAIL_SERVER): each mail is a .eml file in MAIL_OUTBOX_DIR."""

    def __init__(self) -> None:
        self.folder = Path(current_app.config["MAIL_OUTBOX_DIR"])

    def send(self, mail: EmailMessage) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = mail["Message-ID"].strip("<>").replace("/", "_")
            (self.folder / f"{name}.eml").write_bytes(bytes(mail))
        except OSError as error:
            raise RelayError(_describe(error)) from error

    def close(self) -> None:
        pass


@contextmanager
def relay() -> Iterator[_SmtpRelay | _FolderRelay]:
    current = _SmtpRelay() if current_app.config.get("MAIL_SERVER") else _FolderRelay()
    try:
        yield current
    finally:
        current.close()


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


# --- the message ------------------------------------------------------------------------


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2].strip().lower() or "localhost"


def message_id(row_id: int, created_at: datetime, sender: str) -> str:
    """Unique per row (id and creation time, so that two databases never collide) and the
    same at every retry, so that a relay or a mailbox can drop a duplicate."""
    return f"<{created_at:%Y%m%d%H%M%S%f}.{row_id}.convergence@{sender_domain(sender)}>"


def build(row: OutboxMail) -> EmailMessage:
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = row.recipient
    mail["Subject"] = row.subject
    mail["Date"] = format_datetime(utcnow(), usegmt=True)
    mail["Message-ID"] = message_id(row.id, row.created_at, sender)
    mail.set_content(row.body)
    _attach(mail, row)
    return mail


def _attach(mail: EmailMessage, row: OutboxMail) -> None:
    """The documents of the automatic message (certificate, attestation), read from the
    file store, when they fit (backoffice.workflow.messages.mail_attachments)."""
    if row.message_id is None:
        return
    from backoffice.uploads import storage
    from backoffice.workflow.messages import mail_attachments

    message = db.get(Message, row.message_id)
    for fichier in mail_attachments(message) if message is not None else []:
        with storage().open(fichier.storage_key) as handle:
            data = handle.read()
        maintype, _, subtype = (fichier.content_type or "application/octet-stream").partition("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                            filename=fichier.original_name)


# --- claiming and recording ------------------------------------------------------------


@contextmanager
def _writing() -> Iterator[None]:
    """SQLite: BEGIN IMMEDIATE, so that two senders serialise on the write lock instead
    of both reading the same rows (PostgreSQL relies on the row locks)."""
    token = write_intent.set(True)
    try:
        yield
    finally:
        write_intent.reset(token)


def _claim(limit: int,
           only_id: int | None = None) -> tuple[list[tuple[int, EmailMessage]], datetime]:
    """Lease up to `limit` due rows to this sender; return their mails, ready to send
    (the transaction is over: nothing is locked while they are sent), and the lease's
    end."""
    checkpoint("whatever the caller read ends: the claim starts a transaction of its own")
    now = utcnow()
    lease = now + LEASE
    due = (OutboxMail.status == "a_envoyer", OutboxMail.next_attempt_at <= now)
    with _writing():
        query = select(OutboxMail.id).where(*due).order_by(OutboxMail.id).limit(limit) \
            .with_for_update(skip_locked=True)
        if only_id is not None:
            query = query.where(OutboxMail.id == only_id)
        ids = list(db.scalars(query))
        if ids:
            db.execute(update(OutboxMail).where(OutboxMail.id.in_(ids), *due)
                       .values(next_attempt_at=lease, attempts=OutboxMail.attempts + 1)
                       .execution_options(synchronize_session=False))
        rows = list(db.scalars(select(OutboxMail).where(
            OutboxMail.id.in_(ids), OutboxMail.next_attempt_at == lease)
            .order_by(OutboxMail.id).execution_options(populate_existing=True))) if ids else []
        mails = [(row.id, build(row)) for row in rows]
        checkpoint("the lease, before the mails go out (no transaction while the relay "
                   "talks)")
    return mails, lease


def _record(row_id: int, lease: datetime, error: str | None) -> bool:
    """Write one mail's outcome, if the row is still ours (its lease not taken over)."""
    now = utcnow()
    with _writing():
        row = db.scalar(select(OutboxMail).where(OutboxMail.id == row_id)
                        .with_for_update().execution_options(populate_existing=True))
        if row is None or row.status != "a_envoyer" or row.next_attempt_at != lease:
            db.rollback()
            return False
        if error is None:
            row.status, row.sent_at, row.last_error = "envoye", now, None
            row.next_attempt_at = now
            if row.message_id is not None:
                message = db.get(Message, row.message_id)
                if message is not None:
                    message.notified_at = now
        else:
            row.last_error = error
            if row.attempts >= MAX_ATTEMPTS:
                row.status, row.next_attempt_at = "echec", now
            else:
                row.next_attempt_at = now + BACKOFF[min(row.attempts - 1, len(BACKOFF) - 1)]
        checkpoint("one mail's outcome, kept whatever follows")
    return True


def _release(row_ids: list[int], lease: datetime) -> None:
    """Give back rows claimed but not tried (the batch ran out of time)."""
    with _writing():
        db.execute(update(OutboxMail).where(
            OutboxMail.id.in_(row_ids), OutboxMail.status == "a_envoyer",
            OutboxMail.next_attempt_at == lease)
            .values(next_attempt_at=utcnow(), attempts=OutboxMail.attempts - 1)
            .execution_options(synchronize_session=False))
        checkpoint("the rows given back")


def _send_batch(mails: list[tuple[int, EmailMessage]],
                lease: datetime) -> tuple[SendReport, bool]:
    """Send the claimed mails over one connection; returns the report and whether the
    relay is still usable."""
    report = SendReport()
    started = time.monotonic()
    usable, relay_error = True, ""
    with relay() as current:
        for index, (row_id, mail) in enumerate(mails):
            if not usable:
                error = relay_error
            elif time.monotonic() - started > LEASE.total_seconds() / 2:
                _release([i for i, _ in mails[index:]], lease)
                break
            else:
                try:
                    current.send(mail)
                    error = None
                except _MAIL_ERRORS as refused:
                    error = _describe(refused)
                except RelayError as broken:
                    relay_error = error = str(broken)
                    usable = False
            if not _record(row_id, lease, error):
                continue
            if error is None:
                report.sent += 1
            else:
                report.failed += 1
                report.errors.append(f"outbox {row_id} : {error}")
                log.warning("mail %s not sent: %s", row_id, error)
    return report, usable


def send_due(limit: int = 500, batch_size: int = BATCH_SIZE) -> SendReport:
    """Send the mails whose next attempt is due, in batches of `batch_size` (one
    connection each); stop at the first batch the relay could not take."""
    report = SendReport()
    while report.sent + report.failed < limit:
        mails, lease = _claim(min(batch_size, limit - report.sent - report.failed))
        if not mails:
            break
        batch, usable = _send_batch(mails, lease)
        report.add(batch)
        if not usable:
            break
    return report


@job(retries=0)  # the outbox keeps the mail and its own backoff; RQ need not retry
def envoyer(outbox_id: int) -> bool:
    """Send one mail of the outbox; nothing if it was sent already (or is being sent)."""
    mails, lease = _claim(1, only_id=outbox_id)
    if not mails:
        return False
    report, _ = _send_batch(mails, lease)
    return report.sent == 1


@job(retries=0)
def vider(limit: int = 500) -> int:
    """Send the mails whose next attempt is due; return how many went out."""
    return send_due(limit).sent
