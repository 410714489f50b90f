from __future__ import annotations

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backoffice import uploads
from backoffice.api import bp
from backoffice.api.auth import industriel, token_required
from backoffice.api.candidatures import next_cursor, own_candidature, paging
from backoffice.api.errors import ApiError
from backoffice.api.idempotency import idempotent
from backoffice.api.respond import respond
from backoffice.api.serializers import message_json
from backoffice.api.validation import Fields, json_object
from backoffice.db import db
from backoffice.models import Message
from backoffice.workflow import messages

MAX_BODY = 20_000
MAX_ATTACHMENTS = 10


@bp.get("/candidatures/<reference>/messages")
@token_required
def list_messages(reference: str):
    """The thread by pages of `limit` (50), newest page first, `next` naming the page of
    older messages (keyset on the id, as /candidatures). Within a page, messages stay in
    the order of the thread (oldest first), as before paging: a thread of up to `limit`
    messages reads as it always did."""
    candidature = own_candidature(reference)
    limit, after = paging()
    stmt = (select(Message).where(Message.candidature_id == candidature.id,
                                  Message.kind != "note_interne")
            .options(selectinload(Message.attachments))
            .order_by(Message.id.desc()).limit(limit + 1))
    if after is not None:
        stmt = stmt.where(Message.id < after)
    rows = db.scalars(stmt).all()
    items, more = rows[:limit], len(rows) > limit
    return respond({"items": [message_json(m) for m in reversed(items)],
                    "next": next_cursor(items[-1].id) if more else None}, commit=False)


@bp.post("/candidatures/<reference>/messages")
@uploads.accepts_upload("message")
@token_required
@idempotent
def post_message(reference: str):
    """JSON {subject?, body}, or multipart with `body`, `subject` and `attachments`."""
    if request.mimetype.startswith("multipart/form-data"):
        uploads.check_declared_size("message")
        data = {"body": request.form.get("body"), "subject": request.form.get("subject")}
        files = [f for f in request.files.getlist("attachments") if f.filename]
    else:
        data, files = json_object(), []
    f = Fields(data)
    body = f.text("body", max_length=MAX_BODY, multiline=True)
    subject = f.text("subject", required=False, default="")
    f.done()
    if len(files) > MAX_ATTACHMENTS:
        raise ApiError(422, "too_many_attachments",
                       f"{MAX_ATTACHMENTS} pièces jointes au plus.")
    candidature = own_candidature(reference, lock=True)
    message = messages.ecrire(
        candidature, actor=industriel(), body=body or "", subject=subject or "",
        attachments=[uploads.store(candidature, upload, "message") for upload in files])
    return respond(message_json(message), 201)
