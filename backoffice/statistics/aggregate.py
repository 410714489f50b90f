"""The periodic job's side: recount the recent weeks (or all of them) from the raw tables
into stat_weekly, and the present state into stat_current.

Incremental runs (`rafraichir`, every 15 minutes) recount from the Monday of the previous
week: every event dated since then is read again (an indexed range on its date column),
older weeks are left as they are. The nightly complete run (`rafraichir(complet=True)`)
recounts everything, which also catches what an incremental run cannot (a section
reopened and validated again moves its count from an old week to a new one)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, delete, func, insert, literal, select, text

from backoffice.db import db, utcnow
from backoffice.models import (
    AgendaItem,
    Candidature,
    CandidatureExigence,
    CandidatureStep,
    ExigenceVerdict,
    Referentiel,
    SectionReview,
    StatCurrent,
    StatWeekly,
)
from backoffice.statistics.common import (
    DECIDED,
    END_TO_END_DAYS,
    END_TO_END_PARCOURS,
    GRANTED,
    PERIOD_TOTALS,
    PERIODS,
    age_bucket,
    day_bucket,
    end_to_end_days,
    month_of,
    month_start,
    week_end,
    week_of,
    week_start,
)
from backoffice.workflow.definitions import DEMARCHES

Key = tuple[Any, str, str, str, str]  # week, démarche, metric, step, key


def rafraichir(*, complet: bool = False, at: datetime | None = None) -> dict[str, int]:
    """Recount; flushes, the caller commits. Returns how many rows were written."""
    at = at or utcnow()
    if db.get_bind().dialect.name == "postgresql":  # one recount at a time
        db.execute(text("SELECT pg_advisory_xact_lock(hashtext('statistiques'))"))
    since = None if complet else week_of(at) - timedelta(days=7)
    since_at = None if since is None else week_start(since)
    weekly: Counter[Key] = Counter()
    extra: Counter[Key] = Counter()
    _flows(weekly, since_at)
    _steps(weekly, extra, since_at)
    _end_to_end(weekly, extra, since_at)
    _sections(weekly, since_at)
    _verdicts(weekly, extra, since_at)
    _seances(weekly, since_at)
    _backlog_history(weekly, since_at, at)
    month = None if since is None else since.replace(day=1)
    _public(weekly, None if month is None else month_start(month))
    stale = delete(StatWeekly)
    if since is not None:  # the public figures are per month: their month is recounted
        stale = stale.where(((StatWeekly.metric != "public") & (StatWeekly.week >= since))
                            | ((StatWeekly.metric == "public") & (StatWeekly.week >= month)))
    db.execute(stale)
    rows = [{"week": k[0], "demarche_code": k[1], "metric": k[2], "step": k[3], "key": k[4],
             "count": n, "extra": extra.get(k, 0)} for k, n in weekly.items()]
    if rows:
        db.execute(insert(StatWeekly), rows)
    _period_totals(week_of(at))
    current = _current(at)
    db.execute(delete(StatCurrent))
    if current:
        db.execute(insert(StatCurrent), current)
    if since is None and db.get_bind().dialect.name == "postgresql":
        db.execute(text("ANALYZE stat_weekly"))  # a new table's plans need its statistics
    db.flush()
    return {"weekly": len(rows), "current": len(current)}


def _period_totals(current: date) -> None:
    """For each period the page offers (the last N weeks up to the current one), the
    totals over the period of the metrics the page sums over it, per démarche, step and
    key (metric `delai@52`…, `week` = the current Monday): at 1M candidatures the page
    then reads a few thousand totals instead of grouping 150,000 weekly rows. Rewritten
    at every run from the weekly rows just written; the page uses them only when they
    were written this week (facts.from_aggregates)."""
    db.execute(delete(StatWeekly).where(StatWeekly.metric.like("%@%")))
    for weeks in PERIODS:
        first = current - timedelta(days=7 * (weeks - 1))
        db.execute(insert(StatWeekly).from_select(
            ["week", "demarche_code", "metric", "step", "key", "count", "extra"],
            select(literal(current, Date), StatWeekly.demarche_code,
                   StatWeekly.metric + f"@{weeks}", StatWeekly.step, StatWeekly.key,
                   func.sum(StatWeekly.count), func.sum(StatWeekly.extra))
            .where(StatWeekly.metric.in_(PERIOD_TOTALS), StatWeekly.week >= first,
                   StatWeekly.week <= current)
            .group_by(StatWeekly.demarche_code, StatWeekly.metric, StatWeekly.step,
                      StatWeekly.key)))


def _stream(statement: Any) -> Any:
    """Rows fetched in batches: a complete recount at 1M candidatures reads millions."""
    return db.execute(statement.execution_options(yield_per=5000))


def _since(column: Any, since_at: datetime | None) -> Any:
    return column.is_not(None) if since_at is None else column >= since_at


def _flows(weekly: Counter[Key], since_at: datetime | None) -> None:
    for column, name in ((Candidature.created_at, "ouvertes"),
                         (Candidature.submitted_at, "soumises")):
        for code, at in _stream(select(Candidature.demarche_code, column)
                                .where(_since(column, since_at))):
            weekly[(week_of(at), code, "flux", "", name)] += 1
    for code, status, at in _stream(
            select(Candidature.demarche_code, Candidature.status, Candidature.closed_at)
            .where(_since(Candidature.closed_at, since_at))):
        week = week_of(at)
        if status in DECIDED:
            weekly[(week, code, "flux", "", "decidees")] += 1
        if status in GRANTED:
            weekly[(week, code, "flux", "", "accordees")] += 1
        if status == "rejetee":
            weekly[(week, code, "flux", "", "rejetees")] += 1


def _public(weekly: Counter[Key], since_at: datetime | None) -> None:
    """Certificates and référencements per démarche and month (the month's first day in
    `week`): the public page's only source."""
    for code, status, at in _stream(
            select(Candidature.demarche_code, Candidature.status, Candidature.closed_at)
            .where(Candidature.status.in_(GRANTED), _since(Candidature.closed_at, since_at))):
        weekly[(month_of(at), code, "public", status, "")] += 1


def _steps(weekly: Counter[Key], extra: Counter[Key], since_at: datetime | None) -> None:
    """Decided steps: the step's outflow, the decider's decisions, the lead time."""
    rows = _stream(
        select(Candidature.demarche_code, CandidatureStep.step, CandidatureStep.decided_at,
               CandidatureStep.decided_by_id, CandidatureStep.lead_days,
               CandidatureStep.within_delay)
        .join(Candidature, Candidature.id == CandidatureStep.candidature_id)
        .where(_since(CandidatureStep.decided_at, since_at)))
    for code, step, decided_at, decider, lead, within in rows:
        week = week_of(decided_at)
        weekly[(week, code, "sorties", step, "")] += 1
        if decider is not None:
            weekly[(week, code, "decisions", "", str(decider))] += 1
        if lead is not None:
            key = (week, code, "delai", step, str(day_bucket(lead)))
            weekly[key] += 1
            extra[key] += 1 if within else 0


def _end_to_end(weekly: Counter[Key], extra: Counter[Key], since_at: datetime | None) -> None:
    paused = (select(func.coalesce(func.sum(CandidatureStep.paused_days), 0.0))
              .where(CandidatureStep.candidature_id == Candidature.id).scalar_subquery())
    rows = _stream(
        select(Candidature.demarche_code, Candidature.submitted_at, Candidature.closed_at,
               paused)
        .where(Candidature.status.in_(GRANTED + ("avis_rendu",)),
               Candidature.submitted_at.is_not(None), _since(Candidature.closed_at, since_at)))
    for code, submitted_at, closed_at, paused_days in rows:
        days = end_to_end_days(submitted_at, closed_at, paused_days or 0.0)
        key = (week_of(closed_at), code, "delai", "bout_en_bout", str(day_bucket(days)))
        weekly[key] += 1
        legal = DEMARCHES[code].parcours.value == END_TO_END_PARCOURS
        extra[key] += 1 if legal and days <= END_TO_END_DAYS else 0


def _sections(weekly: Counter[Key], since_at: datetime | None) -> None:
    rows = _stream(
        select(Candidature.demarche_code, SectionReview.code, SectionReview.round,
               SectionReview.decided_at)
        .join(Candidature, Candidature.id == SectionReview.candidature_id)
        .where(SectionReview.status == "validee", _since(SectionReview.decided_at, since_at)))
    for code, section, rounds, decided_at in rows:
        weekly[(week_of(decided_at), code, "tours", section, str(rounds))] += 1


def _verdicts(weekly: Counter[Key], extra: Counter[Key], since_at: datetime | None) -> None:
    rows = _stream(
        select(Candidature.demarche_code, func.coalesce(Referentiel.version, ""),
               CandidatureExigence.code, ExigenceVerdict.verdict, ExigenceVerdict.updated_at)
        .join(CandidatureExigence, CandidatureExigence.id == ExigenceVerdict.exigence_id)
        .join(SectionReview, SectionReview.id == CandidatureExigence.section_id)
        .join(Candidature, Candidature.id == SectionReview.candidature_id)
        .outerjoin(Referentiel, Referentiel.id == Candidature.referentiel_id)
        .where(_since(ExigenceVerdict.updated_at, since_at)))
    for code, version, exigence, verdict, at in rows:
        key = (week_of(at), code, "exigences", version, exigence)
        extra[key] += 1
        weekly[key] += 1 if verdict == "non_conforme" else 0


def _seances(weekly: Counter[Key], since_at: datetime | None) -> None:
    rows = _stream(
        select(Candidature.demarche_code, AgendaItem.seance_id, AgendaItem.decision,
               AgendaItem.decided_at)
        .join(Candidature, Candidature.id == AgendaItem.candidature_id)
        .where(AgendaItem.decision.is_not(None), _since(AgendaItem.decided_at, since_at)))
    for code, seance_id, decision, at in rows:
        weekly[(week_of(at), code, "seances", decision, str(seance_id))] += 1


def _backlog_history(weekly: Counter[Key], since_at: datetime | None, at: datetime) -> None:
    """At the end of each week: the candidatures in progress, by the step they were at (a
    step opened and not yet decided, the candidature not yet ended)."""
    query = (select(Candidature.demarche_code, CandidatureStep.step, CandidatureStep.opened_at,
                    CandidatureStep.decided_at, Candidature.closed_at)
             .join(Candidature, Candidature.id == CandidatureStep.candidature_id)
             .where(CandidatureStep.opened_at.is_not(None)))
    if since_at is not None:
        query = query.where(
            (CandidatureStep.decided_at.is_(None)) | (CandidatureStep.decided_at > since_at),
            (Candidature.closed_at.is_(None)) | (Candidature.closed_at > since_at))
    if since_at is not None:
        first = week_of(since_at)
    else:
        earliest = db.scalar(select(func.min(CandidatureStep.opened_at)))
        if earliest is None:
            return
        first = week_of(earliest)
    rows = _stream(query)
    last = week_of(at)
    seven = timedelta(days=7)
    ends: dict[date, datetime] = {}

    def end_of(week: date) -> datetime:
        end = ends.get(week)
        if end is None:
            end = ends[week] = week_end(week, at)
        return end

    # A week counts the step when its snapshot finds it open: opened_at <= end < the
    # decision or the closure, whichever came first (the same test as naive). A week's
    # end grows with the week, so those weeks are one run: its two ends are found by
    # looking at the weeks around the opening and around the end only, and the run is
    # noted as +1 at its first week and -1 after its last (at 1M candidatures, 5M steps
    # open for months each: one Python iteration per step and week was most of the
    # complete recount).
    changes: Counter[tuple[str, str, date]] = Counter()
    for code, step, opened_at, decided_at, closed_at in rows:
        left = min((d for d in (decided_at, closed_at) if d is not None), default=None)
        week = max(first, week_of(opened_at) - seven)
        final = min(last, week_of(left if left is not None and left < at else at))
        while week <= final and end_of(week) < opened_at:
            week += seven
        while final >= week and left is not None and end_of(final) >= left:
            final -= seven
        if week <= final:
            changes[(code, step, week)] += 1
            changes[(code, step, final + seven)] -= 1
    runs: dict[tuple[str, str], list[tuple[date, int]]] = {}
    for (code, step, week), n in changes.items():
        runs.setdefault((code, step), []).append((week, n))
    for (code, step), deltas in runs.items():
        deltas.sort()
        open_steps = 0
        for i, (week, n) in enumerate(deltas):
            open_steps += n
            until = deltas[i + 1][0] if i + 1 < len(deltas) else week
            while open_steps and week < until:
                weekly[(week, code, "stock", step, "")] += open_steps
                week += seven


def _current(at: datetime) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str, str, str]] = Counter()
    rows = _stream(
        select(Candidature.demarche_code, Candidature.current_step, Candidature.queue_due_at,
               Candidature.queue_assignee_id, Candidature.submitted_at, Candidature.created_at)
        .where(Candidature.status == "en_cours"))
    for code, step, due_at, assignee, submitted_at, created_at in rows:
        counts[(code, "stock", step, "")] += 1
        if due_at < at:
            counts[(code, "retard", step, "")] += 1
        if assignee is not None:
            counts[(code, "attributions", "", str(assignee))] += 1
        age = (at - (submitted_at or created_at)).total_seconds() / 86400
        counts[(code, "ages", "", age_bucket(age))] += 1
    return [{"demarche_code": k[0], "metric": k[1], "step": k[2], "key": k[3], "count": n,
             "computed_at": at} for k, n in counts.items()]
