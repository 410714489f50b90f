"""The Exports page: queue exports prepared by a job (jobs/exports.py), their progress,
and the download of a ready file by its requester only."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, send_file, session, url_for
from flask_login import current_user
from sqlalchemy import func, select

from backoffice import audit
from backoffice.auth.access import roles_required
from backoffice.db import commit_record, db, utcnow
from backoffice.models import Export
from backoffice.models.exports import EXPORT_FORMAT_LABELS, EXPORT_FORMATS
from backoffice.queues import candidatures as queue
from backoffice.queues import export
from backoffice.reviewer import bp
from backoffice.tasks import schedule

LISTED = 20  # the requester's latest exports shown
RUNNING_MAX = 3  # exports a vérificateur may have waiting or running at once


PENDING = "exports_en_preparation"  # in the requester's session: the exports to tell about


@bp.before_request
def tell_finished_exports() -> None:
    """A flash on the first workspace page after the requester's export is done (the
    e-mail tells them too). One query, and only while an export of theirs is being
    prepared: the workspace's query budgets are untouched otherwise."""
    pending = session.get(PENDING)
    if not pending or request.method != "GET" or not current_user.is_authenticated:
        return
    done = db.execute(select(Export.id, Export.status).where(
        Export.id.in_(pending), Export.requester_id == current_user.id,
        Export.status.not_in(("en_attente", "en_cours")))).all()
    if not done:
        return
    for _, status in done:
        if status == "pret":
            flash("Votre export de la file est prêt : téléchargez-le depuis la page Exports.",
                  "success")
        else:
            flash("Votre export de la file n'a pas pu être préparé : demandez-en un nouveau "
                  "depuis la file.", "error")
    finished = {export_id for export_id, _ in done}
    session[PENDING] = [i for i in pending if i not in finished]


@bp.route("/exports")
@roles_required("verificateur")
def exports_page():
    """My latest exports; with `format` (and the queue's filters) in the address, the
    form that asks for a new one."""
    mine = db.scalars(select(Export).where(Export.requester_id == current_user.id)
                      .order_by(Export.id.desc()).limit(LISTED)).all()
    proposal = None
    if request.args.get("format") in EXPORT_FORMATS:
        filters = queue.Filters.from_args(request.args).as_args()
        proposal = {"format": request.args["format"], "filters": filters,
                    "description": export.describe(filters)}
    return render_template("reviewer/exports.html", exports=mine, proposal=proposal,
                           formats=EXPORT_FORMAT_LABELS, now=utcnow(),
                           running=any(e.running for e in mine), number_fr=export.number_fr)


@bp.route("/exports", methods=["POST"])
@roles_required("verificateur")
def exports_create():
    """Ask for an export of the queue with the form's filters: the job is queued once the
    request commits."""
    fmt = request.form.get("format")
    if fmt not in EXPORT_FORMATS:
        flash("Choisissez le format de l'export : CSV ou tableur (XLSX).", "error")
        return redirect(url_for("reviewer.exports_page"))
    filters = queue.Filters.from_args(request.form)
    if filters.demarche and filters.demarche not in queue.visible_demarches(current_user):
        flash("Cette démarche n'est pas celle de vos équipes : export impossible.", "error")
        return redirect(url_for("reviewer.exports_page"))
    running = db.scalar(select(func.count(Export.id)).where(
        Export.requester_id == current_user.id,
        Export.status.in_(("en_attente", "en_cours"))))
    if running >= RUNNING_MAX:
        flash(f"Vous avez déjà {running} exports en préparation : attendez qu'ils soient "
              "prêts avant d'en demander un autre.", "error")
        return redirect(url_for("reviewer.exports_page"))
    args = filters.as_args()
    item = Export(requester_id=current_user.id, format=fmt, filters=args,
                  description=export.describe(args), created_at=utcnow())
    db.add(item)
    db.flush()
    audit.record(current_user._get_current_object(), "export.demande", item,
                 after={"format": fmt, "filtres": args})
    schedule("exports.produire", item.id)
    # the job runs at the unit of work's commit (in process in the embedded mode, where it
    # is ready by the next page) or later on a worker: the next workspace page says which
    # (tell_finished_exports)
    session[PENDING] = [*session.get(PENDING, []), item.id][-RUNNING_MAX:]
    flash("Export demandé : il est préparé en tâche de fond. Vous serez prévenu par "
          "e-mail quand il sera prêt ; cette page en suit l'avancement.", "success")
    return redirect(url_for("reviewer.exports_page"))


@bp.route("/exports/<int:export_id>/fichier")
@roles_required("verificateur")
def export_download(export_id: int):
    """The file, for its requester only (anyone else: 404, as for an export that does not
    exist); every download is written to the audit trail."""
    item = db.get(Export, export_id)
    if item is None or item.requester_id != current_user.id:
        abort(404)
    path = export.path_of(item.file_key) if item.file_key else None
    if not item.downloadable(utcnow()) or path is None or not path.is_file():
        message = ("Cet export n'est pas encore prêt : suivez son avancement sur la page "
                   "Exports." if item.running else
                   "Cet export n'est plus disponible (délai de conservation dépassé ou "
                   "préparation en échec) : demandez-en un nouveau depuis la file.")
        code = 409 if item.running else 410
        return render_template("errors/error.html", code=code, title="Export indisponible",
                               message=message), code
    actor = current_user._get_current_object()

    def record() -> None:  # a GET that records (db.commit_record): before the file leaves
        audit.record(actor, "export.telechargement", item,
                     after={"format": item.format, "lignes": item.rows_written})
        item.downloaded_at = utcnow()

    commit_record(record)
    response = send_file(path, mimetype=export.CONTENT_TYPES[item.format].split(";")[0],
                         as_attachment=True, max_age=0,
                         download_name=export.file_name(item.id, item.format, item.created_at))
    response.headers["Cache-Control"] = "private, no-store"
    return response
