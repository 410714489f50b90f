"""Writing in a candidature's thread: a message to the vendor (e-mailed through the
outbox when they agreed) or an internal note (ANS only)."""

from __future__ import annotations

from flask import flash
from flask_login import current_user

from backoffice import uploads
from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.reviewer import bp
from backoffice.reviewer.access import back_to_dossier, load_dossier
from backoffice.reviewer.forms import MessageForm
from backoffice.storage import StorageError
from backoffice.workflow import messages
from backoffice.workflow.base import TransitionError

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
    try:
        messages.ecrire(candidature, actor=current_user._get_current_object(),
                        body=form.body.data, note_interne=note,
                        subject="" if note else "Message de l'ANS",
                        reponse_attendue=bool(form.reponse_attendue.data),
                        attachments=attachments)
    except TransitionError as error:
        db.rollback()
        flash(error.message, "error")
        return back_to_dossier(candidature, "messagerie")
    flash("Note interne ajoutée." if note else "Message envoyé à l'industriel.", "success")
    return back_to_dossier(candidature, "messagerie")
