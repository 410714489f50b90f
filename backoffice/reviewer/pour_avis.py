"""Ligne générique in phase transitoire: the latest zip read against the référentiel
(entries matched to exigences, entries matching nothing, exigences without a file), one
entry previewed without extracting the archive, and the avis informatif."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, abort, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from backoffice import downloads, pdfview
from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.models import Fichier, ZipPourAvis
from backoffice.reviewer import bp
from backoffice.reviewer.access import load_dossier, run_transition
from backoffice.reviewer.files import pdfview_image, pdfview_page
from backoffice.reviewer.forms import ActionForm
from backoffice.storage import CONTENT_TYPES, FileTooLarge, UnsafeArchive, detect_kind, open_entry
from backoffice.uploads import storage
from backoffice.workflow import avis

MAX_ENTRY = 100 * 1024 * 1024


def _uploads(candidature) -> list[ZipPourAvis]:
    return list(db.scalars(select(ZipPourAvis).where(ZipPourAvis.candidature_id ==
                                                     candidature.id)
                           .order_by(ZipPourAvis.id.desc())))


@bp.route("/candidatures/<reference>/pour-avis")
@roles_required("verificateur")
def pour_avis(reference: str):
    candidature = load_dossier(reference)
    if "preuves_pour_avis" not in {s.step for s in candidature.steps}:
        abort(404)
    uploads = _uploads(candidature)
    current = next((u for u in uploads if u.superseded_at is None), None)
    files = {f.id: f for f in db.scalars(select(Fichier).where(
        Fichier.id.in_([u.fichier_id for u in uploads])))}
    analysis = avis.analyse(candidature, current) if current else None
    return render_template("reviewer/pour_avis.html", candidature=candidature,
                           current=current, uploads=uploads, files=files, analysis=analysis,
                           step=candidature.step("preuves_pour_avis"),
                           can_give_avis=avis.can_rendre_avis(current_user, candidature))


@bp.get("/candidatures/<reference>/pour-avis/<int(max=2147483647):zip_id>/entree")
@roles_required("verificateur")
def pour_avis_entry(reference: str, zip_id: int):
    """One entry of the archive, read from it (never extracted to disk)."""
    candidature = load_dossier(reference)
    upload = db.get(ZipPourAvis, zip_id)
    if upload is None or upload.candidature_id != candidature.id:
        abort(404)
    name = request.args.get("nom", "")
    if name not in {e["name"] for e in upload.report.get("entries", [])}:
        abort(404)
    fichier = db.get(Fichier, upload.fichier_id)
    if fichier is None:
        abort(404)
    reason = downloads.refusal(fichier)
    if reason is not None:  # not scanned yet, quarantined, or deleted: nothing is read
        return downloads.unavailable_page(reason)
    try:
        data = open_entry(storage().path(fichier.storage_key), name, max_size=MAX_ENTRY)
    except (KeyError, UnsafeArchive, FileTooLarge):
        abort(404)
    kind = detect_kind(data[:8192])
    if kind == "pdf" and request.args.get("apercu") == "1":  # never inline: the safe viewer
        return pdfview_page(
            pdfview.Source(data=data), name.rsplit("/", 1)[-1],
            download_url=url_for("reviewer.pour_avis_entry", reference=reference,
                                 zip_id=zip_id, nom=name),
            page_url=lambda n: url_for("reviewer.pour_avis_entry", reference=reference,
                                       zip_id=zip_id, nom=name, page=n))
    if kind == "pdf" and request.args.get("page", "").isdigit():
        return pdfview_image(pdfview.Source(data=data), int(request.args["page"]))
    inline = kind in ("png", "jpeg") and request.args.get("apercu") == "1"
    response = Response(data, mimetype=CONTENT_TYPES.get(kind or "", "application/octet-stream")
                        .split(";")[0])
    filename = name.rsplit("/", 1)[-1]
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'")
    response.headers["Content-Disposition"] = (
        f'{"inline" if inline else "attachment"}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(filename)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/candidatures/<reference>/pour-avis/avis")
@roles_required("verificateur")
def pour_avis_rendre(reference: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    candidature = load_dossier(reference, lock=True)
    par_exigence = {key.removeprefix("avis-"): value.strip()[:10_000]
                    for key, value in request.form.items()
                    if key.startswith("avis-") and value.strip()}
    run_transition(candidature, avis.rendre_avis, actor=current_user, par_exigence=par_exigence,
                   message=request.form.get("message", "")[:20_000],
                   success="L'avis est rendu à l'industriel.")
    from flask import redirect, url_for

    return redirect(url_for("reviewer.pour_avis", reference=candidature.reference))
