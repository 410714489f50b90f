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
    session,
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
from backoffice.reviewer.nouveautes import LABELS as MARK_LABELS
from backoffice.reviewer.nouveautes import queue_marks
from backoffice.workflow.definitions import CANDIDATURE_STATUS_LABELS, DEMARCHES


@bp.route("/")
@roles_required("verificateur")
def home():
    rows = step_overview(current_user, utcnow())
    return render_template("reviewer/home.html", rows=rows, parcours=current_user.parcours,
                           sections_held=queue.sections_held(current_user))


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


# The queue's optional columns (reference, product and démarche always show), and those
# each view shows when none were chosen.
COLUMNS = {"soumise": "Soumise le", "delai": "Délai", "attribuee": "Attribuée à",
           "non_lus": "Non lus", "preuves": "Preuves", "activite": "Dernière activité",
           "cloture": "Issue"}
DEFAULT_COLUMNS = {
    "a_traiter": ("soumise", "delai", "attribuee", "non_lus", "preuves"),
    "suivis": ("delai", "attribuee", "non_lus", "activite", "cloture"),
    "traites": ("soumise", "attribuee", "activite", "cloture"),
    "tous": ("delai", "attribuee", "activite", "cloture"),
}
# the column a sortable header sorts by
COLUMN_SORTS = {"soumise": "attente", "delai": "echeance", "activite": "activite",
                "cloture": "cloture"}


def columns_from(args, view: str) -> tuple[str, ...]:
    """The columns asked for (`colonnes`, repeated or comma-separated), else the view's."""
    asked = {c for value in args.getlist("colonnes") for c in value.split(",")}
    chosen = tuple(c for c in COLUMNS if c in asked)
    return chosen or DEFAULT_COLUMNS[view]


def page_args(filters: queue.Filters, columns: tuple[str, ...]) -> dict[str, str]:
    """The page's arguments: its filters, and its columns when not the view's own."""
    args = filters.as_args()
    if columns != DEFAULT_COLUMNS[filters.view]:
        args["colonnes"] = ",".join(columns)
    return args


@bp.route("/file")
@roles_required("verificateur")
def queue_page():
    from backoffice.reviewer.saved_views import shared_teams, visible_views

    filters = queue.Filters.from_args(request.args)
    visible = queue.visible_demarches(current_user)
    if filters.demarche and filters.demarche not in visible:
        abort(404)
    if filters.q and not request.args.get("apres"):
        # an exact reference, certificate or référencement number: straight to the dossier
        reference = queue.find_exact(current_user, filters.q)
        if reference:
            return redirect(url_for("reviewer.dossier", reference=reference))
    now = utcnow()
    try:
        # counting stops one row past the limit: « plus de 1 000 » costs what 1,001 rows do
        rows, next_cursor, total = queue.page_and_count(
            current_user, filters, after=request.args.get("apres"), now=now,
            count_limit=queue.COUNT_LIMIT + 1)
    except queue.InvalidCursor:
        abort(400)
    first_page = not request.args.get("apres")
    columns = columns_from(request.args, filters.view)
    args = page_args(filters, columns)
    session["vue_courante"] = args  # « Dossier suivant » walks this view
    kept = {"colonnes": args["colonnes"]} if "colonnes" in args else {}
    sort_links = {sort: url_for("reviewer.queue_page", **filters.sorted_by(sort), **kept)
                  for sort in queue.VIEW_SORTS[filters.view]}
    demarches = [(code, DEMARCHES[code].label) for code in visible]
    steps = queue.steps_in_view(visible, filters.demarche)
    windows = campaign_windows(visible)
    return render_template(
        "reviewer/queue.html", rows=rows, filters=filters, next_cursor=next_cursor,
        first_page=first_page, demarches=demarches, steps=steps,
        statuses=queue.statuses_in_view(steps, filters.step), colleagues=colleagues(),
        windows=windows, total=total, count_limit=queue.COUNT_LIMIT, views=queue.VIEWS,
        view_sorts=queue.VIEW_SORTS[filters.view], columns=columns, column_labels=COLUMNS,
        column_sorts=COLUMN_SORTS, args=args, saved_views=visible_views(current_user),
        teams=shared_teams(current_user), bulk_max=BULK_MAX,
        # « Nouveau » / « Modifié » since my last visit: one statement for the page
        marks=queue_marks(current_user.id, rows), mark_labels=MARK_LABELS,
        outcome_labels=CANDIDATURE_STATUS_LABELS, sort_links=sort_links,
        # one url_for for the 50 rows (references are [A-Z]{9}: nothing to quote)
        dossier_prefix=url_for("reviewer.dossier", reference="_").removesuffix("_"),
        # « Mes dossiers » lists the steps I hold and the dossiers where I review sections
        sections_held=queue.sections_held(current_user) if filters.assignee == "moi" else None,
    )


BULK_MAX = 200  # dossiers assigned at once, ticked or the whole filtered result


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
