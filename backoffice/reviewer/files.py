"""Serving a dossier's files to the vérificateurs of its parcours: download (attachment)
or, for PDFs and images only, an inline view; refused while the file is not openable
(antivirus, support deletion)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, abort, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from backoffice import downloads, pdfview
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


@bp.get("/fichiers/<int(max=2147483647):fichier_id>")
@roles_required("verificateur")
def download(fichier_id: int):
    return downloads.serve(_load(fichier_id), "attachment")


@bp.get("/fichiers/<int(max=2147483647):fichier_id>/apercu")
@roles_required("verificateur")
def preview(fichier_id: int):
    """Images inline (sandboxed); a PDF through the safe viewer, never inline."""
    fichier = _load(fichier_id)
    if fichier.kind not in INLINE_KINDS:
        abort(404)
    return safe_preview(fichier, "reviewer.download", "reviewer.preview_page")


def safe_preview(fichier: Fichier, download_endpoint: str, page_endpoint: str):
    """The preview every reader shares (vérificateur, collège): an image inline
    (sandboxed), a PDF as pages drawn by the server, never the vendor's PDF inline; a
    file not yet scanned clean gets the unavailable page; the opening is audited."""
    if fichier.kind != "pdf":
        return downloads.serve(fichier, "inline")
    reason = downloads.refusal(fichier)
    if reason is not None:
        return downloads.unavailable_page(reason)
    downloads.record_opening(fichier, "aperçu")
    return pdfview_page(
        pdfview.Source(path=storage().path(fichier.storage_key)), fichier.original_name,
        download_url=url_for(download_endpoint, fichier_id=fichier.id),
        page_url=lambda n: url_for(page_endpoint, fichier_id=fichier.id, page=n))


@bp.get("/fichiers/<int(max=2147483647):fichier_id>/apercu/<int(min=1, max=10000):page>.png")
@roles_required("verificateur")
def preview_page(fichier_id: int, page: int):
    fichier = _load(fichier_id)
    if fichier.kind != "pdf" or downloads.refusal(fichier) is not None:
        abort(404)
    return pdfview_image(pdfview.Source(path=storage().path(fichier.storage_key)), page)


def pdfview_page(source: pdfview.Source, name: str, download_url: str,
                 page_url: Callable[[int], str]):
    try:
        count = pdfview.page_count(source)
    except pdfview.RenderError:
        count = None
    return render_template("reviewer/apercu.html", name=name, count=count,
                           shown=min(count or 0, pdfview.MAX_PAGES), download_url=download_url,
                           page_url=page_url, max_pages=pdfview.MAX_PAGES)


def pdfview_image(source: pdfview.Source, page: int) -> Response:
    try:
        image = pdfview.render_page(source, page)
    except pdfview.RenderError:
        abort(404)
    response = Response(image, mimetype="image/png")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = f'inline; filename="page-{page}.png"'
    # the stored file never changes: the page can be kept by this browser for a while
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
