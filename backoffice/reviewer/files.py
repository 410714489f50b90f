"""Serving a dossier's files to the vérificateurs of its parcours: download (attachment)
or, for PDFs and images only, an inline view."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, abort
from flask_login import current_user
from sqlalchemy import select

from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.models import Candidature, Fichier
from backoffice.queues.candidatures import visible_demarches
from backoffice.reviewer import bp
from backoffice.uploads import storage

INLINE_KINDS = {"pdf", "png", "jpeg"}


def _load(fichier_id: int) -> Fichier:
    fichier = db.get(Fichier, fichier_id)
    if fichier is None:
        abort(404)
    demarche = db.scalar(select(Candidature.demarche_code).where(
        Candidature.id == fichier.candidature_id))
    if demarche not in visible_demarches(current_user):
        abort(404)
    return fichier


def _send(fichier: Fichier, disposition: str) -> Response:
    handle = storage().open(fichier.storage_key)

    def chunks():  # noqa: ANN202
        with handle:
            while block := handle.read(256 * 1024):
                yield block

    ascii_name = fichier.original_name.encode("ascii", "replace").decode().replace('"', "'")
    response = Response(chunks(), mimetype=fichier.content_type.split(";")[0])
    response.headers["Content-Type"] = fichier.content_type
    response.headers["Content-Length"] = str(fichier.size)
    response.headers["Content-Disposition"] = (
        f'{disposition}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(fichier.original_name)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    if disposition == "inline":
        # Nothing in the file may run or load anything (images: fully sandboxed).
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
            + ("; sandbox" if fichier.kind != "pdf" else ""))
    return response


@bp.get("/fichiers/<int(max=2147483647):fichier_id>")
@roles_required("verificateur")
def download(fichier_id: int):
    return _send(_load(fichier_id), "attachment")


@bp.get("/fichiers/<int(max=2147483647):fichier_id>/apercu")
@roles_required("verificateur")
def preview(fichier_id: int):
    fichier = _load(fichier_id)
    if fichier.kind not in INLINE_KINDS:
        abort(404)
    return _send(fichier, "inline")
