"""Saved queue views (per user, shareable with a team), bulk assignment of a whole
filtered result, and « Dossier suivant » in the view the vérificateur came from
(issue 18, item 3; docs/workspace.md, « Vues et recherche »)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from werkzeug.datastructures import MultiDict

from backoffice.auth.access import roles_required
from backoffice.db import db, utcnow
from backoffice.models import Candidature, SavedView, Team, User
from backoffice.queues import candidatures as queue
from backoffice.reviewer import bp
from backoffice.reviewer.access import load_dossier
from backoffice.reviewer.decisions import assign_all
from backoffice.reviewer.forms import ActionForm, VueForm
from backoffice.reviewer.views import BULK_MAX, colleagues, columns_from, page_args

MAX_VIEWS = 50  # a user's own views


@dataclass(frozen=True)
class ViewLink:
    id: int
    name: str
    args: dict[str, str]
    team: str | None  # the team it is shared with
    mine: bool


def shared_teams(user: User) -> list[Team]:
    """The teams a user may share a view with: their own (loaded with the user)."""
    return list(user.teams)


def visible_views(user: User) -> list[ViewLink]:
    """The user's own views and those shared with one of their teams (one query)."""
    teams = {t.id: t.name for t in user.teams}
    rows = db.execute(
        select(SavedView.id, SavedView.name, SavedView.args, SavedView.team_id,
               SavedView.owner_id)
        .where(or_(SavedView.owner_id == user.id, SavedView.team_id.in_(list(teams))))
        .order_by(SavedView.name, SavedView.id)).all()
    return [ViewLink(id_, name, args, teams.get(team_id), owner_id == user.id)
            for id_, name, args, team_id, owner_id in rows]


def _args_of(form) -> dict[str, str]:
    """The queue arguments posted with a form, checked as the queue checks them."""
    posted = MultiDict(form)
    filters = queue.Filters.from_args(posted)
    return page_args(filters, columns_from(posted, filters.view))


@bp.post("/vues")
@roles_required("verificateur")
def save_view():
    form = VueForm()
    args = _args_of(request.form)
    back = url_for("reviewer.queue_page", **args)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(back)
    team_id = None
    if form.equipe.data:
        team = next((t for t in current_user.teams if str(t.id) == form.equipe.data), None)
        if team is None:
            abort(404)  # not one of the user's teams
        team_id = team.id
    owned = db.scalar(select(SavedView.id).where(SavedView.owner_id == current_user.id)
                      .offset(MAX_VIEWS - 1).limit(1))
    if owned is not None:
        flash(f"Vous avez déjà {MAX_VIEWS} vues : supprimez-en une d'abord.", "error")
        return redirect(back)
    db.add(SavedView(owner_id=current_user.id, team_id=team_id, name=form.nom.data.strip(),
                     args=args))
    shared = " et partagée avec votre équipe" if team_id else ""
    flash(f"Vue « {form.nom.data.strip()} » enregistrée{shared}.", "success")
    return redirect(back)


@bp.post("/vues/<int:view_id>/supprimer")
@roles_required("verificateur")
def delete_view(view_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    view = db.get(SavedView, view_id)
    if view is None or view.owner_id != current_user.id:
        abort(404)  # only its owner deletes a view; teammates only use it
    db.delete(view)
    flash(f"Vue « {view.name} » supprimée.", "success")
    return redirect(url_for("reviewer.queue_page"))


def _filters_checked(args) -> queue.Filters:
    filters = queue.Filters.from_args(args)
    if filters.demarche and filters.demarche not in queue.visible_demarches(current_user):
        abort(404)
    return filters


@bp.route("/file/attribuer-tout", methods=["GET", "POST"])
@roles_required("verificateur")
def bulk_assign_all():
    """The whole filtered result assigned to someone, up to BULK_MAX dossiers, after a
    confirmation page that says how many."""
    if request.method == "POST" and not ActionForm().validate_on_submit():
        abort(400)
    source = request.form if request.method == "POST" else request.args
    filters = _filters_checked(source)
    args = filters.as_args()
    # the result's first BULK_MAX rows, and whether there are more: bounded, like a page
    rows, more = queue.page(current_user, filters, limit=BULK_MAX, now=utcnow())
    if filters.assignee == "moi":
        # « Mes dossiers » also lists the dossiers where I only review sections: their
        # step is not mine to hand on
        rows = [row for row in rows if row.assignee_id == current_user.id]
    if request.method == "GET":
        return render_template("reviewer/attribuer_tout.html", filters=filters, args=args,
                               count=len(rows), too_many=more is not None, bulk_max=BULK_MAX,
                               colleagues=colleagues())
    back = url_for("reviewer.queue_page", **args)
    if more is not None:
        flash(f"Plus de {BULK_MAX} dossiers correspondent à ces filtres : affinez-les pour "
              "les attribuer en une fois.", "error")
        return redirect(back)
    target = db.get(User, int(request.form["confier_a"])) \
        if request.form.get("confier_a", "").isdigit() else None
    if target is None or not rows:
        flash("Aucun dossier à attribuer, ou personne à qui l'attribuer.", "error")
        return redirect(back)
    assign_all([row.reference for row in rows], target)
    return redirect(back)


SORT_COLUMNS = {"attente": "queue_since", "echeance": "queue_due_at",
                "activite": "last_activity_at", "cloture": "closed_at"}


@bp.route("/file/suivant/<reference>")
@roles_required("verificateur")
def next_in_view(reference: str):
    """The dossier after this one in the view the vérificateur last opened (its sort
    and filters); once this one has left the view (decided, moved), the first of it."""
    candidature: Candidature = load_dossier(reference)
    args = MultiDict(session.get("vue_courante") or {})
    filters = queue.Filters.from_args(args)
    now = utcnow()
    rows: list[queue.Row] = []
    value = getattr(candidature, SORT_COLUMNS[filters.sort])
    if value is not None:
        cursor = queue.encode_cursor(queue._as_utc(value), candidature.id)
        rows, _ = queue.page(current_user, filters, after=cursor, limit=1, now=now)
    if not rows:
        rows, _ = queue.page(current_user, filters, limit=2, now=now)
        rows = [r for r in rows if r.id != candidature.id]
    if not rows:
        flash("Il n'y a plus d'autre dossier dans cette vue.", "info")
        return redirect(url_for("reviewer.queue_page", **args.to_dict()))
    return redirect(url_for("reviewer.dossier", reference=rows[0].reference))
