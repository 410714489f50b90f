"""Writing in a candidature's thread: a message to the vendor (e-mailed through the
outbox when they agreed) or an internal note (ANS only)."""

from __future__ import annotations

from flask import flash
from flask_login import current_user

from backoffice import audit, uploads
from backoffice.auth.access import roles_required
from backoffice.db import db, utcnow
from backoffice.models import Message
from backoffice.reviewer import bp
from backoffice.reviewer.access import back_to_dossier, load_dossier
from backoffice.reviewer.forms import MessageForm
from backoffice.storage import StorageError
from backoffice.workflow.messages import queue_email

MAX_ATTACHMENTS = 10


@bp.post("/candidatures/<reference>/messages")
@uploads.accepts_upload("message")
@roles_required("verificateur")
def post_message(reference: str):
    form = MessageForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return back_to_dossier(candidature, "messagerie")
    files = [f for f in (form.attachments.data or []) if getattr(f, "filename", "")]
    if len(files) > MAX_ATTACHMENTS:
        flash(f"{MAX_ATTACHMENTS} pièces jointes au plus.", "error")
        return back_to_dossier(candidature, "messagerie")
    note = form.kind.data == "note_interne"
    try:
        attachments = [uploads.store(candidature, f, "message",
                                     uploaded_by_user_id=current_user.id) for f in files]
    except StorageError as error:
        db.rollback()
        flash(f"Pièce jointe refusée : {error.message}", "error")
        return back_to_dossier(candidature, "messagerie")
    message = Message(candidature_id=candidature.id, author_kind="ans",
                      author_id=current_user.id, kind="note_interne" if note else "message",
                      subject="" if note else "Message de l'ANS", body=form.body.data.strip(),
                      reponse_attendue=bool(form.reponse_attendue.data) and not note,
                      created_at=utcnow())
    message.attachments = attachments
    db.add(message)
    candidature.last_activity_at = utcnow()
    db.flush()
    audit.record(current_user, "messagerie.note_interne" if note else "messagerie.message_ans",
                 message, candidature=candidature, after={"attachments": len(attachments)})
    if not note:
        queue_email(candidature, message)
    db.commit()
    uploads.committed()
    flash("Note interne ajoutée." if note else "Message envoyé à l'industriel.", "success")
    return back_to_dossier(candidature, "messagerie")
