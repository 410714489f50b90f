"""E-mails to the vendor's contact for each message they can see, when they agreed to
receive e-mails. Embedded mode writes them to MAIL_OUTBOX_DIR; production sends SMTP."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

from flask import current_app

from backoffice.db import db, utcnow
from backoffice.models import Candidature, Message
from jobs import job


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


@job
def notifier_industriel(message_id: int) -> bool:
    """Send message `message_id` once; False when there is nothing (more) to send."""
    message = db.get(Message, message_id)
    if message is None or message.notified_at is not None or not message.visible_to_vendor:
        return False
    candidature = db.get(Candidature, message.candidature_id)
    if not (candidature.email_opt_in and candidature.contact_email):
        return False
    mail = EmailMessage()
    mail["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    mail["To"] = candidature.contact_email
    mail["Subject"] = f"[Convergence {candidature.reference}] {message.subject}".strip()
    mail["Message-ID"] = f"<message-{message.id}@convergence.backoffice>"
    mail.set_content(
        f"{message.body}\n\n--\nCandidature {candidature.reference} — retrouvez l'ensemble "
        "des échanges dans votre messagerie Convergence.\n"
    )
    _send(mail)
    message.notified_at = utcnow()
    db.commit()
    return True
