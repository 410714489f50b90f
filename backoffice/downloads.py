"""Serving a stored file's bytes. Every route that serves them refuses a file that is not
openable (antivirus scan pending, failed or infected; deleted by the support desk) with
the reason in French: a 409 page for the back-office, a JSON error for the API."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, render_template

from backoffice.models import Fichier
from backoffice.uploads import storage

PENDING = "Fichier en cours d'analyse antivirus : il ne peut pas encore être ouvert."
FAILED = ("Analyse antivirus en échec : le fichier ne peut pas être ouvert tant qu'elle n'a "
          "pas abouti (elle est relancée automatiquement).")
DELETED = "Fichier supprimé par le support : il ne peut plus être ouvert."


def refusal(fichier: Fichier) -> str | None:
    """Why the file cannot be opened, or None when it can."""
    if fichier.deleted_at is not None:
        return DELETED
    if fichier.openable:
        return None
    if fichier.scan_status == "infecte":
        return (f"Fichier mis en quarantaine : l'antivirus y a détecté « {fichier.scan_detail} ». "
                "Il ne peut pas être ouvert.")
    if fichier.scan_status == "erreur":
        return FAILED
    return PENDING


def unavailable_page(message: str):
    return render_template("errors/error.html", code=409, title="Fichier indisponible",
                           message=message), 409


def send(fichier: Fichier, disposition: str) -> Response:
    """The bytes, streamed, as an attachment or (images only) inline, sandboxed."""
    if disposition == "inline" and fichier.kind not in ("png", "jpeg"):
        disposition = "attachment"
    handle = storage().open(fichier.storage_key)

    def chunks():
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
    if disposition == "inline":  # images only (PDFs go through backoffice.pdfview)
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def serve(fichier: Fichier, disposition: str):
    """The back-office's download: the bytes, or the page saying why not."""
    reason = refusal(fichier)
    if reason is not None:
        return unavailable_page(reason)
    record_opening(fichier, "aperçu" if disposition == "inline" else "téléchargement")
    return send(fichier, disposition)


def record_opening(fichier: Fichier, mode: str) -> None:
    """Opening a vendor's file is a sensitive read (design.md, « Audit »): one audit row,
    which the support desk reads on the file's history. Recorded apart from the page
    (`db.commit_record`): the read has happened whatever the rest of the request does."""
    from flask_login import current_user

    from backoffice import audit
    from backoffice.db import commit_record, db
    from backoffice.models import Candidature

    if not getattr(current_user, "is_authenticated", False):
        return
    actor = current_user._get_current_object()
    commit_record(lambda: audit.record(
        actor, "fichier.ouvrir", fichier,
        candidature=db.get(Candidature, fichier.candidature_id),
        after={"fichier": fichier.original_name, "mode": mode}))
