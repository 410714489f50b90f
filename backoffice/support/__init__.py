"""The support desk: find a file from a candidature reference and (part of) its name,
see what it is, delete it on the vendor's request."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import and_, or_, select

from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.models import AuditEvent, Candidature, Fichier, User
from backoffice.reviewer import history
from backoffice.workflow import support
from backoffice.workflow.base import TransitionError

bp = Blueprint("support", __name__)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@bp.route("/")
@roles_required("support")
def home():
    reference = (request.args.get("reference") or "").strip().upper()
    name = (request.args.get("nom") or "").strip()
    results, candidature = [], None
    if reference:
        candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
    if candidature is not None:
        stmt = select(Fichier).where(Fichier.candidature_id == candidature.id)
        if name:
            stmt = stmt.where(Fichier.original_name.ilike(_like(name), escape="\\"))
        files = db.scalars(stmt.order_by(Fichier.uploaded_at.desc()).limit(200)).all()
        people = {u.id: u for u in db.scalars(select(User).where(User.id.in_(
            {f.uploaded_by_user_id for f in files} | {f.deleted_by_id for f in files})))}
        results = [(f, support.usage(f), people) for f in files]
    return render_template("support/home.html", reference=reference, name=name,
                           candidature=candidature, results=results,
                           searched=bool(reference))


@bp.post("/fichiers/<int(max=2147483647):fichier_id>/supprimer")
@roles_required("support")
def delete(fichier_id: int):
    if not FlaskForm().validate_on_submit():
        abort(400)
    fichier = db.get(Fichier, fichier_id)
    if fichier is None:
        abort(404)
    candidature = db.get(Candidature, fichier.candidature_id)
    if candidature is None:  # the file goes with its candidature (cascade)
        abort(404)
    from backoffice.workflow.base import load_for_update

    load_for_update(candidature.reference)
    try:
        support.supprimer_fichier(fichier, actor=current_user,
                                  motif=request.form.get("motif", ""),
                                  demande=request.form.get("demande", ""))
        flash(f"« {fichier.original_name} » est supprimé ; l'industriel en est informé.",
              "success")
    except TransitionError as error:
        db.rollback()
        flash(error.message, "error")
    return redirect(url_for("support.home", reference=candidature.reference,
                            nom=request.form.get("nom", "")))


# --- the audit trail, read-only (design.md: support « read the audit trail ») ----------


@bp.get("/candidatures/<reference>/historique")
@roles_required("support")
def candidature_history(reference: str):
    """Every audit event of a candidature, openings of its files included."""
    candidature = db.scalar(select(Candidature).where(
        Candidature.reference == reference.strip().upper()))
    if candidature is None:
        abort(404)
    events = db.scalars(select(AuditEvent).where(AuditEvent.candidature_id == candidature.id)
                        .order_by(AuditEvent.id.desc())).all()
    lexicon = history.lexicon_for(candidature, events)
    return render_template("support/history.html", candidature=candidature, fichier=None,
                           rows=[(e.created_at, history.who(e, lexicon),
                                  history.describe(e, lexicon)) for e in events])


@bp.get("/fichiers/<int(max=2147483647):fichier_id>/historique")
@roles_required("support")
def file_history(fichier_id: int):
    """One file's life: who uploaded it, what the antivirus found, who opened it, who
    archived or deleted it and why."""
    fichier = db.get(Fichier, fichier_id)
    if fichier is None:
        abort(404)
    candidature = db.get(Candidature, fichier.candidature_id)
    if candidature is None:  # the file goes with its candidature (cascade)
        abort(404)
    used = support.usage(fichier)
    holder = used.get("preuve") or used.get("piece") or used.get("upload")
    about = [and_(AuditEvent.target_type == "fichier", AuditEvent.target_id == str(fichier.id))]
    if holder is not None:
        about.append(and_(AuditEvent.target_type == type(holder).__name__.lower(),
                          AuditEvent.target_id == str(holder.id)))
    events = db.scalars(select(AuditEvent).where(
        AuditEvent.candidature_id == candidature.id, or_(*about))
        .order_by(AuditEvent.id)).all()
    lexicon = history.lexicon_for(candidature, events)
    people: dict[int | None, str]  # looked up with None for a vendor's upload: no name
    people = {u.id: u.name for u in db.scalars(select(User).where(User.id.in_(
        {fichier.uploaded_by_user_id} - {None})))}
    uploader = people.get(fichier.uploaded_by_user_id) or \
        f"L'industriel ({candidature.organisation.name})"
    rows = [(fichier.uploaded_at, uploader, f"a déposé le fichier « {fichier.original_name} »")]
    if fichier.scanned_at is not None:
        rows.append((fichier.scanned_at, "Antivirus", SCAN_RESULTS.get(
            fichier.scan_status, "a analysé le fichier")))
    rows += [(e.created_at, history.who(e, lexicon), history.describe(e, lexicon))
             for e in events]
    rows.sort(key=lambda row: row[0])
    return render_template("support/history.html", candidature=candidature, fichier=fichier,
                           usage=used, rows=rows)


SCAN_RESULTS = {
    "sain": "a analysé le fichier : aucune menace détectée",
    "infecte": "a détecté une menace : le fichier est en quarantaine",
    "erreur": "n'a pas pu analyser le fichier (nouvelle tentative automatique)",
}
