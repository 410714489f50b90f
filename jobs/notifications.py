"""E-mails from the outbox. Embedded mode writes them to MAIL_OUTBOX_DIR; production
sends SMTP. A failure leaves the mail in the outbox with its next attempt time (backoff),
so that `vider` (run by `flask --app backoffice send-mails`, a cron or the worker) sends it
once the server is back."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from backoffice.db import db, utcnow
from backoffice.models import Message, OutboxMail
from jobs import job

MAX_ATTEMPTS = 8
BACKOFF = [timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 360, 720)]


def _send(mail: EmailMessage) -> None:
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        outbox = Path(config["MAIL_OUTBOX_DIR"])
        outbox.mkdir(parents=True, exist_ok=True)
        (outbox / f"{mail['Message-ID'].strip('<>')}.eml").write_bytes(bytes(mail))
        return
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(mail)


def _deliver(row: OutboxMail) -> bool:
    mail = EmailMessage()
    mail["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    mail["To"] = row.recipient
    mail["Subject"] = row.subject
    mail["Message-ID"] = f"<outbox-{row.id}@convergence.backoffice>"
    mail.set_content(row.body)
    now = utcnow()
    row.attempts += 1
    try:
        _send(mail)
    except (OSError, smtplib.SMTPException) as error:
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "echec"
        else:
            row.next_attempt_at = now + BACKOFF[min(row.attempts - 1, len(BACKOFF) - 1)]
        db.commit()
        return False
    row.status, row.sent_at, row.last_error = "envoye", now, None
    if row.message_id is not None:
        message = db.get(Message, row.message_id)
        if message is not None:
            message.notified_at = now
    db.commit()
    return True


@job(retries=0)  # the outbox keeps the mail and its own backoff; RQ need not retry
def envoyer(outbox_id: int) -> bool:
    """Send one mail of the outbox; nothing if it was sent already."""
    row = db.get(OutboxMail, outbox_id)
    if row is None or row.status != "a_envoyer":
        return False
    return _deliver(row)


@job(retries=0)
def vider(limit: int = 500) -> int:
    """Send the mails whose next attempt is due; return how many went out."""
    due = db.scalars(select(OutboxMail).where(
        OutboxMail.status == "a_envoyer", OutboxMail.next_attempt_at <= utcnow())
        .order_by(OutboxMail.id).limit(limit)).all()
    return sum(_deliver(row) for row in due)
