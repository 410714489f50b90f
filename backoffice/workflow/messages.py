"""The automatic messages each transition posts to the candidature's thread (French;
admins edit their wording in the admin area)."""

from __future__ import annotations

from collections.abc import Sequence

from backoffice.db import db, utcnow
from backoffice.models import Candidature, Fichier, Message, OutboxMail
from backoffice.reference.files import message_texts
from backoffice.tasks import schedule

# The built-in wording, event -> (subject, body): reference data (data/message_templates.json,
# loaded into message_template by init-db, where admins edit it).
TEXTS: dict[str, tuple[str, str]] = message_texts()

# Internal outcomes the vendor is not e-mailed about.
NOT_NOTIFIED = {"emission.echec", "convention.envoi_echoue"}


def _template(event: str) -> tuple[str, str]:
    """The admin's wording if there is one, else the built-in text."""
    from backoffice.models import MessageTemplate

    custom = db.get(MessageTemplate, event)
    return (custom.subject, custom.body) if custom is not None else TEXTS[event]


class _Values(dict):
    """str.format_map that leaves unknown placeholders (an admin's typo) visible."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def post_system_message(candidature: Candidature, event: str, *,
                        attachments: Sequence[Fichier] = (), **values: object) -> Message:
    """Post the automatic message of `event` (with its attachments); e-mail it (outbox) if
    the contact agreed."""
    subject, body = _template(event)
    values.setdefault("reference", candidature.reference)
    values.setdefault("extra", "")
    message = Message(
        candidature_id=candidature.id,
        author_kind="systeme",
        kind="automatique",
        event=event,
        subject=subject.format_map(_Values(values)),
        body=body.format_map(_Values(values)),
        created_at=utcnow(),
        attachments=list(attachments),
    )
    db.add(message)
    db.flush()
    if event not in NOT_NOTIFIED:
        queue_email(candidature, message)
    return message


def queue_email(candidature: Candidature, message: Message) -> OutboxMail | None:
    """Write the e-mail in the outbox, in the message's transaction (never lost), and
    have it sent after commit."""
    if not (candidature.email_opt_in and candidature.contact_email) or \
            not message.visible_to_vendor:
        return None
    mail = OutboxMail(
        message_id=message.id, recipient=candidature.contact_email,
        subject=f"[Convergence {candidature.reference}] {message.subject}".strip(),
        body=(f"{message.body}{_attachments_note(message)}\n\n--\nCandidature "
              f"{candidature.reference} — retrouvez l'ensemble des échanges dans votre "
              "messagerie Convergence.\n"),
    )
    db.add(mail)
    db.flush()
    schedule("notifications.envoyer", mail.id)
    return mail


def mail_attachments(message: Message) -> list[Fichier]:
    """The message's documents the e-mail carries: all of them when they can be opened and
    fit in MAIL_ATTACHMENTS_MAX_BYTES together, else none (the e-mail says where they are)."""
    from flask import current_app

    files = list(message.attachments)
    limit = int(current_app.config.get("MAIL_ATTACHMENTS_MAX_BYTES", 5 * 1024 * 1024))
    if not files or any(not f.openable for f in files) or sum(f.size for f in files) > limit:
        return []
    return files


def _attachments_note(message: Message) -> str:
    if not message.attachments:
        return ""
    from backoffice.storage import format_size

    names = ", ".join(f"« {f.original_name} »" for f in message.attachments)
    if mail_attachments(message):
        return f"\n\nPièce(s) jointe(s) à ce courriel : {names}."
    size = format_size(sum(f.size for f in message.attachments))
    return (f"\n\nLe document {names} ({size}) n'est pas joint à ce courriel (taille maximale "
            "des pièces jointes dépassée) : téléchargez-le depuis votre messagerie Convergence.")
