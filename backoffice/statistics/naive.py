"""The same figures, computed the obvious way from the raw tables at each call: every
candidature, step, section, verdict and agenda item of the selected démarches is read.
What the page must never do (bench/statistics.py measures why); what the tests compare the
aggregates with.

Rows are read as plain tuples, in batches, candidature by candidature (its steps come
with it): at 1M candidatures the raw tables hold tens of millions of rows, which ORM
objects held in memory would not fit. Each figure is still decided row by row, week by
week, without the aggregates' grouping."""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import select

from backoffice.db import db, utcnow
from backoffice.models import (
    AgendaItem,
    Candidature,
    CandidatureExigence,
    CandidatureStep,
    ExigenceVerdict,
    Referentiel,
    SectionReview,
)
from backoffice.statistics.common import (
    DECIDED,
    END_TO_END_DAYS,
    END_TO_END_PARCOURS,
    GRANTED,
    age_bucket,
    day_bucket,
    end_to_end_days,
    week_end,
    week_of,
)
from backoffice.statistics.facts import Facts, Filters
from backoffice.workflow.definitions import DEMARCHES

BATCH = 10_000


def _stream(statement: Any) -> Any:
    return db.execute(statement.execution_options(yield_per=BATCH))


def compute(filters: Filters, at: datetime | None = None) -> Facts:
    at = at or utcnow()
    facts = Facts(computed_at=at)
    weeks, projection = set(filters.weeks), set(filters.projection_weeks)
    ends = [(week, week_end(week, at)) for week in filters.weeks]
    c, s = Candidature, CandidatureStep
    rows = _stream(
        select(c.id, c.demarche_code, c.status, c.created_at, c.submitted_at, c.closed_at,
               c.current_step, c.queue_due_at, c.queue_assignee_id,
               s.step, s.opened_at, s.decided_at, s.decided_by_id, s.lead_days,
               s.within_delay, s.paused_days)
        .outerjoin(s, s.candidature_id == c.id)
        .where(c.demarche_code.in_(filters.demarches))
        .order_by(c.id))
    for _, group in groupby(rows, key=lambda r: r[0]):
        lines = list(group)
        candidature = lines[0][:9]
        steps = [line[9:] for line in lines if line[9] is not None]
        _candidature(facts, candidature, steps, weeks, ends, at)
        for step in steps:
            _step(facts, candidature[1], step, weeks, projection)
    for code, rounds, status, decided_at in _stream(
            select(SectionReview.code, SectionReview.round, SectionReview.status,
                   SectionReview.decided_at)
            .join(Candidature, Candidature.id == SectionReview.candidature_id)
            .where(Candidature.demarche_code.in_(filters.demarches))):
        if status == "validee" and week_of(decided_at) in weeks:
            facts.tours[(code, rounds)] += 1
    for code, version, verdict, updated_at in _stream(
            select(CandidatureExigence.code, Referentiel.version, ExigenceVerdict.verdict,
                   ExigenceVerdict.updated_at)
            .join(CandidatureExigence, CandidatureExigence.id == ExigenceVerdict.exigence_id)
            .join(SectionReview, SectionReview.id == CandidatureExigence.section_id)
            .join(Candidature, Candidature.id == SectionReview.candidature_id)
            .outerjoin(Referentiel, Referentiel.id == Candidature.referentiel_id)
            .where(Candidature.demarche_code.in_(filters.demarches))):
        if week_of(updated_at) in weeks:
            facts.exigences[(code, version or "", "jugees")] += 1
            if verdict == "non_conforme":
                facts.exigences[(code, version or "", "nc")] += 1
    for seance_id, decision, decided_at in _stream(
            select(AgendaItem.seance_id, AgendaItem.decision, AgendaItem.decided_at)
            .join(Candidature, Candidature.id == AgendaItem.candidature_id)
            .where(Candidature.demarche_code.in_(filters.demarches),
                   AgendaItem.decision.is_not(None))):
        if week_of(decided_at) in weeks:
            facts.seances[(seance_id, decision)] += 1
    return facts


def _candidature(facts: Facts, c: tuple, steps: list[tuple], weeks: set,
                 ends: list[tuple[Any, datetime]], at: datetime) -> None:
    (_, demarche, status, created_at, submitted_at, closed_at, current_step, due_at,
     assignee) = c
    if week_of(created_at) in weeks:
        facts.flux[(week_of(created_at), "ouvertes")] += 1
    if submitted_at and week_of(submitted_at) in weeks:
        facts.flux[(week_of(submitted_at), "soumises")] += 1
    if closed_at and week_of(closed_at) in weeks:
        week = week_of(closed_at)
        for kind, statuses in (("decidees", DECIDED), ("accordees", GRANTED),
                               ("rejetees", ("rejetee",))):
            if status in statuses:
                facts.flux[(week, kind)] += 1
        if status in (*GRANTED, "avis_rendu") and submitted_at:
            days = end_to_end_days(submitted_at, closed_at,
                                   sum(step[6] or 0.0 for step in steps))
            legal = DEMARCHES[demarche].parcours.value == END_TO_END_PARCOURS
            facts.leads[(demarche, "bout_en_bout", day_bucket(days),
                         legal and days <= END_TO_END_DAYS)] += 1
    if status == "en_cours":
        facts.stock_now[current_step] += 1
        if due_at < at:
            facts.retard_now[current_step] += 1
        if assignee is not None:
            facts.attributions[assignee] += 1
        facts.ages[age_bucket((at - (submitted_at or created_at)).total_seconds()
                              / 86400)] += 1
    for week, end in ends:
        if closed_at is not None and closed_at <= end:
            continue
        for step, opened_at, decided_at, *_ in steps:
            if opened_at and opened_at <= end and (decided_at is None or decided_at > end):
                facts.stock[(week, step)] += 1


def _step(facts: Facts, demarche: str, step: tuple, weeks: set, projection: set) -> None:
    name, _, decided_at, decided_by, lead_days, within_delay, _ = step
    if decided_at is None:
        return
    week = week_of(decided_at)
    if week in projection:
        facts.sorties[name] += 1
    if week not in weeks:
        return
    if decided_by is not None:
        facts.decisions[decided_by] += 1
    if lead_days is not None:
        facts.leads[(demarche, name, day_bucket(lead_days), bool(within_delay))] += 1

