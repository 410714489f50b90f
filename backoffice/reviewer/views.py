"""The vérificateur's home, queues and CSV export."""

from __future__ import annotations

from dataclasses import dataclass

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from backoffice.auth.access import roles_required
from backoffice.db import db, utcnow
from backoffice.models import CampaignWindow, Team, User
from backoffice.queues import candidatures as queue
from backoffice.queues import export
from backoffice.queues.cache import queue_cache
from backoffice.queues.overview import step_overview
from backoffice.reviewer import bp
from backoffice.workflow.definitions import DEMARCHES, STEP_STATUS_LABELS


@bp.route("/")
@roles_required("verificateur")
def home():
    rows = step_overview(current_user, utcnow())
    return render_template("reviewer/home.html", rows=rows, parcours=current_user.parcours)


@dataclass(frozen=True)
class Colleague:
    id: int
    name: str


def colleagues() -> list[Colleague]:
    """Vérificateurs sharing a parcours with the current user (id and name), kept until
    an account or a team changes (queues/cache.py)."""
    parcours = tuple(sorted(current_user.parcours))
    if not parcours:
        return []
    return queue_cache().get(("colleagues", parcours), lambda: [
        Colleague(*row) for row in db.execute(
            select(User.id, User.name).join(User.teams)
            .where(Team.parcours.in_(parcours), User.active.is_(True))
            .distinct().order_by(User.name))])


@dataclass(frozen=True)
class Window:
    id: int
    label: str


def campaign_windows(demarches: list[str]) -> list[Window]:
    """The démarches' campaign windows, latest first (kept like the colleagues)."""
    return queue_cache().get(("windows", tuple(demarches)), lambda: [
        Window(*row) for row in db.execute(
            select(CampaignWindow.id, CampaignWindow.label)
            .where(CampaignWindow.demarche_code.in_(demarches))
            .order_by(CampaignWindow.closes_at.desc()))])


@bp.route("/file")
@roles_required("verificateur")
def queue_page():
    filters = queue.Filters.from_args(request.args)
    if filters.demarche and filters.demarche not in queue.visible_demarches(current_user):
        abort(404)
    try:
        rows, next_cursor = queue.page(current_user, filters, after=request.args.get("apres"),
                                       now=utcnow())
    except queue.InvalidCursor:
        abort(400)
    demarches = [(code, DEMARCHES[code].label) for code in queue.visible_demarches(current_user)]
    steps = sorted({s for code, _ in demarches for s in DEMARCHES[code].steps},
                   key=lambda s: [d for d in DEMARCHES.values() if s in d.steps][0].steps.index(s))
    windows = campaign_windows([c for c, _ in demarches])
    return render_template(
        "reviewer/queue.html", rows=rows, filters=filters, next_cursor=next_cursor,
        first_page=not request.args.get("apres"), demarches=demarches, steps=steps,
        statuses=STEP_STATUS_LABELS, colleagues=colleagues(), windows=windows,
        # one url_for for the 50 rows (references are [A-Z]{9}: nothing to quote)
        dossier_prefix=url_for("reviewer.dossier", reference="_").removesuffix("_"),
    )


@bp.route("/file.csv")
@roles_required("verificateur")
def queue_csv():
    """The filtered queue as CSV, streamed page by page (memory stays flat), up to
    EXPORT_STREAM_MAX_ROWS rows; a larger queue is exported by a job (reviewer/exports.py):
    the vérificateur is sent to the Exports page to ask for it. Counting stops past the
    limit, so that asking costs the same whatever the size of the queue."""
    filters = queue.Filters.from_args(request.args)
    user, now = current_user._get_current_object(), utcnow()
    limit = current_app.config["EXPORT_STREAM_MAX_ROWS"]
    if queue.count(user, filters, now=now, limit=limit + 1) > limit:
        flash(f"La file compte plus de {export.number_fr(limit)} lignes : son export sera "
              "préparé en tâche de fond. Confirmez la demande ci-dessous ; vous serez prévenu "
              "par e-mail quand il sera prêt.", "info")
        return redirect(url_for("reviewer.exports_page", format="csv", **filters.as_args()))
    filename = f"file-{now:%Y%m%d-%H%M}.csv"
    rows = queue.stream(user, filters, now=now)
    return Response(stream_with_context(export.csv_chunks(rows)),
                    mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
