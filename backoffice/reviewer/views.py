"""The vérificateur's home, queues and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Response, abort, render_template, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import select

from backoffice import exports
from backoffice.auth.access import roles_required
from backoffice.db import db, utcnow
from backoffice.filters import date_fr
from backoffice.models import CampaignWindow, Team, User
from backoffice.queues import candidatures as queue
from backoffice.queues.cache import queue_cache
from backoffice.queues.overview import step_overview
from backoffice.reviewer import bp
from backoffice.workflow.definitions import (
    DEMARCHES,
    STEP_STATUS_LABELS,
    status_label,
    step_label,
)


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


CSV_COLUMNS = ("Référence", "Produit", "Organisation", "Démarche", "Étape", "Statut",
               "Soumise le", "Échéance", "Jours restants", "Attribuée à", "Messages non lus",
               "Sections validées")


@bp.route("/file.csv")
@roles_required("verificateur")
def queue_csv():
    """The filtered queue as CSV, streamed page by page (memory stays flat). Every cell goes
    through exports.cell (no formula from a vendor's product name); the text is encoded with
    replacement, so that a row stored before input was checked cannot cut the download."""
    filters = queue.Filters.from_args(request.args)
    user, now = current_user._get_current_object(), utcnow()

    def generate() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";")
        buffer.write("\ufeff")  # Excel opens UTF-8 only with a BOM
        writer.writerow(CSV_COLUMNS)
        for n, row in enumerate(queue.stream(user, filters, now=now), 1):
            writer.writerow(exports.row((
                row.reference, row.product_label, row.organisation,
                DEMARCHES[row.demarche_code].label, step_label(row.step),
                status_label(row.step_status), date_fr(row.submitted_at),
                date_fr(row.due_at) if row.due_at else "",
                round(row.days_left) if row.days_left is not None else "",  # a number
                row.assignee_name or "", row.unread,
                f"{row.sections_validated}/{row.sections_total}" if row.sections_total else "",
            )))
            if n % 200 == 0:  # a chunk every 200 rows (~30 kB): flat memory, few writes
                yield buffer.getvalue().encode("utf-8", "replace")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8", "replace")

    filename = f"file-{now:%Y%m%d-%H%M}.csv"
    return Response(stream_with_context(generate()), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
