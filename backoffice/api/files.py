"""Uploads: pièces justificatives, preuves per exigence, the ligne générique zip; and the
download of a candidature's file (refused with 409 `file_not_available` while it is not
openable: antivirus scan pending or failed, quarantined, deleted)."""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from backoffice import downloads, uploads
from backoffice.api import bp
from backoffice.api.auth import industriel, token_required
from backoffice.api.candidatures import own_candidature
from backoffice.api.errors import ApiError, not_found
from backoffice.api.idempotency import idempotent
from backoffice.api.respond import respond
from backoffice.api.serializers import file_json, iso, preuve_json, section_json
from backoffice.api.validation import form_text
from backoffice.db import db
from backoffice.models import Fichier, Message, Preuve
from backoffice.models.messaging import message_attachment
from backoffice.storage import inspect_zip
from backoffice.workflow import avis, forms, preuves


def _upload(field: str = "file"):
    if not request.mimetype.startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type",
                       "Envoyez le fichier en multipart/form-data (champ « file »).")
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise ApiError(422, "validation_error", "Le fichier est obligatoire.",
                       fields={field: "Fichier attendu."})
    return upload


@bp.post("/candidatures/<reference>/pieces")
@uploads.accepts_upload("piece")
@token_required
@idempotent
def upload_piece(reference: str):
    uploads.check_declared_size("piece")
    candidature = own_candidature(reference, lock=True)
    type_code = form_text("type") or ""
    step = form_text("step") or forms.current_form_step(candidature)
    if not type_code:
        raise ApiError(422, "validation_error", "Le type de pièce est obligatoire.",
                       fields={"type": "Ce champ est obligatoire."})
    if step is None:
        raise ApiError(409, "no_form_step", "Aucune étape de formulaire n'est ouverte.")
    forms.piece_type(candidature, step, type_code)  # 422 before storing anything
    upload = _upload()
    fichier = uploads.store(candidature, upload, "piece")
    piece = forms.ajouter_piece(candidature, step, type_code, fichier, actor=industriel())
    return respond({"id": piece.id, "step": step, "type": type_code,
                    "file": file_json(fichier)}, 201)


@bp.post("/candidatures/<reference>/sections/<section>/exigences/<path:exigence>/preuves")
@uploads.accepts_upload("preuve")
@token_required
@idempotent
def upload_preuve(reference: str, section: str, exigence: str):
    """A preuve file, or (without a file) the déclaration de non-applicabilité."""
    uploads.check_declared_size("preuve")
    candidature = own_candidature(reference, lock=True)
    review = preuves.section_of(candidature, section)
    preuves.exigence_of(review, exigence)
    declaration = form_text("declaration_non_applicable", multiline=True)
    if declaration is not None and "file" not in request.files:
        preuves.declarer_non_applicable(candidature, section, exigence, actor=industriel(),
                                        declaration=declaration)
        return respond({"exigence": exigence, "declaration_non_applicable": declaration.strip()},
                       201)
    upload = _upload()
    fichier = uploads.store(candidature, upload, "preuve")
    if fichier.kind == "zip":  # an archive as a preuve gets the same inspection as the zip
        inspect_zip(uploads.storage().path(fichier.storage_key))
    preuve = preuves.deposer_preuve(candidature, section, exigence, actor=industriel(),
                                    fichier=fichier)
    return respond(preuve_json(preuve), 201)


@bp.delete("/candidatures/<reference>/preuves/<int(max=2147483647):preuve_id>")
@token_required
def archive_preuve(reference: str, preuve_id: int):
    candidature = own_candidature(reference, lock=True)
    preuve = db.scalar(select(Preuve).where(Preuve.id == preuve_id,
                                            Preuve.candidature_id == candidature.id))
    if preuve is None:
        raise not_found("Preuve introuvable.")
    preuves.archiver_preuve(candidature, preuve, actor=industriel())
    return respond({"id": preuve.id, "archived": True, "archived_at": iso(preuve.archived_at)})


@bp.post("/candidatures/<reference>/sections/<section>/submit")
@token_required
@idempotent
def submit_section(reference: str, section: str):
    candidature = own_candidature(reference, lock=True)
    preuves.soumettre_section(candidature, section, actor=industriel())
    return respond(section_json(preuves.section_of(candidature, section), detail=True))


@bp.get("/candidatures/<reference>/sections/<section>")
@token_required
def get_section(reference: str, section: str):
    candidature = own_candidature(reference)
    return respond(section_json(preuves.section_of(candidature, section), detail=True),
                   commit=False)


@bp.post("/candidatures/<reference>/preuves-pour-avis")
@uploads.accepts_upload("zip")
@token_required
@idempotent
def upload_zip(reference: str):
    uploads.check_declared_size("zip")
    candidature = own_candidature(reference, lock=True)
    avis.ensure_zip_accepted(industriel(), candidature)  # before storing anything
    upload = _upload()
    fichier = uploads.store(candidature, upload, "zip")
    summary = uploads.zip_summary(fichier)
    upload_row = avis.deposer_zip(candidature, actor=industriel(), fichier=fichier,
                                  report=summary)
    return respond({"id": upload_row.id, "file": file_json(fichier), **summary}, 201)


@bp.get("/candidatures/<reference>/files/<int(max=2147483647):file_id>")
@token_required
def download_file(reference: str, file_id: int):
    """A file of the candidature (internal notes' attachments excepted), as an attachment."""
    candidature = own_candidature(reference)
    fichier = db.scalar(select(Fichier).where(Fichier.id == file_id,
                                              Fichier.candidature_id == candidature.id))
    internal_only = fichier is not None and db.scalar(
        select(Message.id).join(message_attachment,
                                message_attachment.c.message_id == Message.id)
        .where(message_attachment.c.fichier_id == fichier.id,
               Message.kind == "note_interne").limit(1)) is not None
    if fichier is None or internal_only:
        raise not_found("Fichier introuvable.")
    reason = downloads.refusal(fichier)
    if reason is not None:
        raise ApiError(409, "file_not_available", reason,
                       reason="supprime" if fichier.deleted_at else fichier.scan_status)
    return downloads.send(fichier, "attachment")
