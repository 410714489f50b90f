"""The same figures, computed the obvious way from the raw tables at each call: every
candidature, step, section, verdict and agenda item of the selected démarches is read.
What the page must never do (bench/statistics.py measures why); what the tests compare the
aggregates with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backoffice.db import db, utcnow
from backoffice.models import (
    AgendaItem,
    Candidature,
    CandidatureExigence,
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


def compute(filters: Filters, at: datetime | None = None) -> Facts:
    at = at or utcnow()
    facts = Facts(computed_at=at)
    weeks, projection = set(filters.weeks), set(filters.projection_weeks)
    candidatures = db.scalars(
        select(Candidature).where(Candidature.demarche_code.in_(filters.demarches))
        .options(selectinload(Candidature.steps))).all()
    versions = {r.id: r.version for r in db.scalars(select(Referentiel))}
    for c in candidatures:
        _candidature(facts, c, weeks, projection, at)
        for step in c.steps:
            _step(facts, c, step, weeks, projection)
    for section in db.scalars(select(SectionReview).join(Candidature).where(
            Candidature.demarche_code.in_(filters.demarches)).options(
            selectinload(SectionReview.exigences).selectinload(CandidatureExigence.verdicts))):
        candidature = db.get(Candidature, section.candidature_id)
        if section.status == "validee" and week_of(section.decided_at) in weeks:
            facts.tours[(section.code, section.round)] += 1
        version = versions.get(candidature.referentiel_id, "")
        for exigence in section.exigences:
            for verdict in exigence.verdicts:
                if week_of(verdict.updated_at) in weeks:
                    facts.exigences[(exigence.code, version, "jugees")] += 1
                    if verdict.verdict == "non_conforme":
                        facts.exigences[(exigence.code, version, "nc")] += 1
    for item in db.scalars(select(AgendaItem).join(Candidature).where(
            Candidature.demarche_code.in_(filters.demarches), AgendaItem.decision.is_not(None))):
        if week_of(item.decided_at) in weeks:
            facts.seances[(item.seance_id, item.decision)] += 1
    return facts


def _candidature(facts: Facts, c: Candidature, weeks: set, projection: set,
                 at: datetime) -> None:
    if week_of(c.created_at) in weeks:
        facts.flux[(week_of(c.created_at), "ouvertes")] += 1
    if c.submitted_at and week_of(c.submitted_at) in weeks:
        facts.flux[(week_of(c.submitted_at), "soumises")] += 1
    if c.closed_at and week_of(c.closed_at) in weeks:
        week = week_of(c.closed_at)
        for kind, statuses in (("decidees", DECIDED), ("accordees", GRANTED),
                               ("rejetees", ("rejetee",))):
            if c.status in statuses:
                facts.flux[(week, kind)] += 1
        if c.status in (*GRANTED, "avis_rendu") and c.submitted_at:
            days = end_to_end_days(c.submitted_at, c.closed_at,
                                   sum(s.paused_days or 0.0 for s in c.steps))
            legal = DEMARCHES[c.demarche_code].parcours.value == END_TO_END_PARCOURS
            facts.leads[(c.demarche_code, "bout_en_bout", day_bucket(days),
                         legal and days <= END_TO_END_DAYS)] += 1
    if c.status == "en_cours":
        facts.stock_now[c.current_step] += 1
        if c.queue_due_at < at:
            facts.retard_now[c.current_step] += 1
        if c.queue_assignee_id is not None:
            facts.attributions[c.queue_assignee_id] += 1
        facts.ages[age_bucket((at - (c.submitted_at or c.created_at)).total_seconds()
                              / 86400)] += 1
    for week in weeks:
        end = week_end(week, at)
        if c.closed_at is not None and c.closed_at <= end:
            continue
        for step in c.steps:
            if step.opened_at and step.opened_at <= end and (
                    step.decided_at is None or step.decided_at > end):
                facts.stock[(week, step.step)] += 1


def _step(facts: Facts, c: Candidature, step, weeks: set, projection: set) -> None:
    if step.decided_at is None:
        return
    week = week_of(step.decided_at)
    if week in projection:
        facts.sorties[step.step] += 1
    if week not in weeks:
        return
    if step.decided_by_id is not None:
        facts.decisions[step.decided_by_id] += 1
    if step.lead_days is not None:
        facts.leads[(c.demarche_code, step.step, day_bucket(step.lead_days),
                     bool(step.within_delay))] += 1
