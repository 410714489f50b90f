"""Writing in a candidature's thread (`ecrire`, for ANS, the vendor and the system) and
the automatic messages each transition posts (French; admins edit their wording in the
admin area)."""

from __future__ import annotations

from collections.abc import Sequence

from backoffice import audit
from backoffice.db import db, utcnow
from backoffice.models import Candidature, Fichier, Message, OutboxMail, User
from backoffice.reference.files import message_texts
from backoffice.tasks import schedule
from backoffice.workflow.base import (
    SYSTEME,
    Actor,
    NotAllowed,
    ensure_allowed,
    is_industriel_of,
    is_systeme,
    is_verificateur_for,
    require_text,
)

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


def ecrire(candidature: Candidature, *, actor: Actor, body: str, subject: str = "",
           note_interne: bool = False, attachments: Sequence[Fichier] = (),
           reponse_attendue: bool = False, event: str | None = None) -> Message:
    """Write in the candidature's thread — the one way for ANS (a message to the vendor or
    an internal note), the vendor (through the API) and the system (a transition's
    automatic message, `event`). Flushes; e-mails the vendor (outbox, after commit) what
    ANS and the system write, if the contact agreed."""
    systeme = is_systeme(actor)
    ans = isinstance(actor, User)
    if ans:
        ensure_allowed(is_verificateur_for(actor, candidature))
    elif not systeme:
        ensure_allowed(is_industriel_of(actor, candidature))
    if note_interne and not ans:
        raise NotAllowed("not_allowed", "Seule l'ANS écrit des notes internes.")
    body = body if systeme else require_text(body, "Le message est vide.")
    at = utcnow()
    message = Message(
        candidature_id=candidature.id,
        author_kind="systeme" if systeme else "ans" if ans else "industriel",
        author_id=actor.id if isinstance(actor, User) else None,  # ans
        kind="automatique" if systeme else "note_interne" if note_interne else "message",
        event=event, subject=subject or "", body=body, created_at=at,
        reponse_attendue=reponse_attendue and ans and not note_interne,
        attachments=list(attachments),
    )
    db.add(message)
    if not systeme:
        candidature.last_activity_at = at
    db.flush()
    if not systeme:  # a transition audits its own automatic message
        action = ("messagerie.note_interne" if note_interne else "messagerie.message_ans") \
            if ans else "messagerie.message_industriel"
        audit.record(actor, action, message, candidature=candidature,
                     after={"attachments": len(message.attachments)})
    if (ans and not note_interne) or (systeme and event not in NOT_NOTIFIED):
        queue_email(candidature, message)
    return message


def post_system_message(candidature: Candidature, event: str, *,
                        attachments: Sequence[Fichier] = (), **values: object) -> Message:
    """Post the automatic message of `event` (with its attachments); e-mail it (outbox) if
    the contact agreed."""
    subject, body = _template(event)
    values.setdefault("reference", candidature.reference)
    values.setdefault("extra", "")
    return ecrire(candidature, actor=SYSTEME, event=event, attachments=attachments,
                  subject=subject.format_map(_Values(values)),
                  body=body.format_map(_Values(values)))


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
