"""/statistiques: the figures of the démarches the user may see, from the aggregates.

Who sees what (checked here, on every route): a vérificateur, the démarches of their
teams' parcours; the collège, its séances' decisions; an administrator, everything,
including the workload per vérificateur (administrators only)."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, abort, render_template, request, send_file, url_for
from flask_login import current_user
from openpyxl import Workbook
from sqlalchemy import func, select

from backoffice import exports
from backoffice.auth.access import public, roles_required
from backoffice.db import db, utcnow
from backoffice.models import (
    Candidature,
    CandidatureExigence,
    ExigenceVerdict,
    SectionReview,
    StatWeekly,
    Team,
)
from backoffice.queues.candidatures import visible_demarches
from backoffice.statistics import charts, tables
from backoffice.statistics.common import month_of, week_start
from backoffice.statistics.facts import Filters, from_aggregates
from backoffice.workflow.definitions import DEMARCHES, Parcours

bp = Blueprint("statistics", __name__)
ROLES = ("verificateur", "college", "admin")
PERIODS = {"8": "8 dernières semaines", "12": "12 dernières semaines",
           "26": "26 dernières semaines", "52": "52 dernières semaines"}
VERIFICATEUR_TABLES = ("stock", "ages", "retards", "delais", "tours", "exigences", "flux",
                       "projection")
COLLEGE_DEMARCHES = tuple(c for c, d in DEMARCHES.items() if "college" in d.steps)


def allowed_tables() -> tuple[str, ...]:
    if current_user.has_role("admin"):
        return (*VERIFICATEUR_TABLES[:-1], "seances", "charge", VERIFICATEUR_TABLES[-1])
    names: tuple[str, ...] = ()
    if current_user.has_role("verificateur"):
        names += VERIFICATEUR_TABLES
    if current_user.has_role("college"):
        names += ("seances",)
    return names


def allowed_demarches() -> list[str]:
    if current_user.has_role("admin"):
        return list(DEMARCHES)
    codes = set(visible_demarches(current_user)) if current_user.has_role("verificateur") \
        else set()
    if current_user.has_role("college"):
        codes |= set(COLLEGE_DEMARCHES)
    return [c for c in DEMARCHES if c in codes]


def allowed_teams() -> list[Team]:
    if current_user.has_role("admin"):
        return list(db.scalars(select(Team).order_by(Team.name)))
    return list(current_user.teams) if current_user.has_role("verificateur") else []


def current_filters() -> tuple[Filters, dict[str, str], list[str]]:
    """The filters of the query string, narrowed to what the user may see; an unknown or
    forbidden value is ignored with a message (never a 500, never someone else's data)."""
    demarches = allowed_demarches()
    errors = []
    chosen = {"demarche": request.args.get("demarche", ""),
              "periode": request.args.get("periode", "26"),
              "equipe": request.args.get("equipe", "")}
    if chosen["periode"] not in PERIODS:
        errors.append("Période inconnue : les 12 dernières semaines sont affichées.")
        chosen["periode"] = "12"
    if chosen["equipe"]:
        team = next((t for t in allowed_teams() if str(t.id) == chosen["equipe"]), None)
        if team is None:
            errors.append("Équipe inconnue : toutes vos démarches sont affichées.")
            chosen["equipe"] = ""
        else:
            demarches = [c for c in demarches
                         if DEMARCHES[c].parcours == Parcours(team.parcours)]
    if chosen["demarche"]:
        if chosen["demarche"] in demarches:
            demarches = [chosen["demarche"]]
        else:
            errors.append("Démarche inconnue ou hors de vos équipes : toutes vos démarches "
                          "sont affichées.")
            chosen["demarche"] = ""
    return Filters.last_weeks(tuple(demarches), int(chosen["periode"])), chosen, errors


def _tables(filters: Filters, names: tuple[str, ...]) -> list[tables.Table]:
    facts = from_aggregates(filters)
    # the drill-down keeps the page's filters (those current_filters reads), nothing else
    # of the query string: a `code` there gave url_for two codes (a 500), `_external`…
    # would be url_for's own options
    kept: dict[str, Any] = {k: v for k, v in request.args.items()
                            if k in ("demarche", "periode", "equipe")}
    link = (lambda code: url_for("statistics.exigence", code=code, **kept)) \
        if "exigences" in names else None
    built = tables.build(facts, filters, names, link)
    for table in built:
        table.svg = charts.render(table)  # type: ignore[attr-defined]
    built_at = facts.computed_at
    for table in built:
        table.computed_at = built_at  # type: ignore[attr-defined]
    return built


@bp.get("/")
@roles_required(*ROLES)
def page():
    filters, chosen, errors = current_filters()
    built = _tables(filters, allowed_tables()) if filters.demarches else []
    computed_at = next((t.computed_at for t in built if t.computed_at), None)
    return render_template(
        "statistics/page.html", tables=built, chosen=chosen, errors=errors,
        periods=PERIODS, teams=allowed_teams(),
        demarches=[(c, DEMARCHES[c].label) for c in allowed_demarches()],
        computed_at=computed_at, filters=filters)


@bp.get("/export/<name>.<fmt>")
@roles_required(*ROLES)
def export(name: str, fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    if name not in allowed_tables():
        abort(403)
    filters, _, _ = current_filters()
    table = _tables(filters, (name,))[0]
    rows = [[("" if v is None else v) for v in row] for row in table.rows]
    filename = f"statistiques-{table.id}.{fmt}"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(exports.row(table.columns))
        for row in rows:
            writer.writerow(exports.row(row))
        data = io.BytesIO(("\ufeff" + out.getvalue()).encode("utf-8"))
        return send_file(data, mimetype="text/csv; charset=utf-8", as_attachment=True,
                         download_name=filename)
    book = Workbook()
    sheet = book.active
    sheet.title = table.id
    sheet.append([exports.cell(c) for c in table.columns])
    for row in rows:
        sheet.append([exports.cell(v) for v in row])
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    return send_file(
        data, as_attachment=True, download_name=filename,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/exigences/<code>")
@roles_required("verificateur", "admin")
def exigence(code: str):
    """The dossiers where this exigence was judged non conforme, in the period (the
    drill-down of a table row: one indexed read, a page at most)."""
    filters, chosen, _ = current_filters()
    demarches = [c for c in filters.demarches]
    since = min(filters.weeks)
    rows = db.execute(
        select(Candidature.reference, Candidature.demarche_code, SectionReview.code,
               ExigenceVerdict.round, ExigenceVerdict.updated_at)
        .join(CandidatureExigence, CandidatureExigence.id == ExigenceVerdict.exigence_id)
        .join(SectionReview, SectionReview.id == CandidatureExigence.section_id)
        .join(Candidature, Candidature.id == SectionReview.candidature_id)
        .where(CandidatureExigence.code == code, ExigenceVerdict.verdict == "non_conforme",
               Candidature.demarche_code.in_(demarches),
               ExigenceVerdict.updated_at >= week_start(since))
        .order_by(ExigenceVerdict.updated_at.desc()).limit(200)).all()
    return render_template("statistics/exigence.html", code=code, rows=rows, chosen=chosen,
                           labels={c: d.label for c, d in DEMARCHES.items()})


@bp.get("/publiques")
@public
def publiques():
    """Certificates and référencements per démarche and month, the last 12 months: counts
    only (no vendor, no product, no person), from the aggregates."""
    from datetime import date

    today = month_of(utcnow())  # the months of Paris, as the aggregates count them
    months = []
    year, month = today.year, today.month
    for _ in range(12):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    months.reverse()
    counts: dict = {}
    for week, code, total in db.execute(
            select(StatWeekly.week, StatWeekly.demarche_code, func.sum(StatWeekly.count))
            .where(StatWeekly.metric == "public", StatWeekly.week >= months[0])
            .group_by(StatWeekly.week, StatWeekly.demarche_code)):
        week = week if isinstance(week, date) else date.fromisoformat(week)
        counts[(week, code)] = total
    codes = list(DEMARCHES)
    table = tables.Table(
        "publiques", "Certificats et référencements délivrés par mois",
        ["Mois"] + [DEMARCHES[c].label for c in codes],
        [[m.strftime("%m/%Y")] + [counts.get((m, c), 0) for c in codes] for m in months], "")
    total = sum(sum(r[1:]) for r in table.rows)
    table.summary = (f"{total} certificats de conformité et référencements délivrés sur les "
                     "12 derniers mois.")
    return render_template("statistics/publiques.html", table=table)
