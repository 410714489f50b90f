"""What the page's tables are built from, whichever way it was counted: from the
aggregates (`from_aggregates`, the page) or from the raw tables (`naive`, the tests and
the benchmark). Both fill the same `Facts`, so comparing them is one equality."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from backoffice.db import db, utcnow
from backoffice.models import StatCurrent, StatWeekly
from backoffice.statistics.common import PERIOD_TOTALS, PERIODS, PROJECTION_WEEKS, week_of


@dataclass(frozen=True)
class Filters:
    demarches: tuple[str, ...]
    weeks: tuple[date, ...]  # Mondays, oldest first

    @classmethod
    def last_weeks(cls, demarches: tuple[str, ...], count: int,
                   at: datetime | None = None) -> Filters:
        current = week_of(at or utcnow())
        return cls(tuple(demarches), tuple(current - timedelta(days=7 * i)
                                           for i in range(count - 1, -1, -1)))

    @property
    def projection_weeks(self) -> tuple[date, ...]:
        """The complete weeks before the current one, for the throughput."""
        current = week_of(utcnow())
        return tuple(current - timedelta(days=7 * i) for i in range(PROJECTION_WEEKS, 0, -1))


@dataclass
class Facts:
    stock: Counter = field(default_factory=Counter)  # (week, step) -> candidatures
    stock_now: Counter = field(default_factory=Counter)  # step -> candidatures
    retard_now: Counter = field(default_factory=Counter)  # step -> overdue
    ages: Counter = field(default_factory=Counter)  # bucket label -> candidatures
    # histograms, never lists (1M candidatures: millions of decisions)
    leads: Counter = field(default_factory=Counter)  # (démarche, step, days, within) -> n
    tours: Counter = field(default_factory=Counter)  # (section code, rounds) -> sections
    exigences: Counter = field(default_factory=Counter)  # (code, version, "nc"|"jugees")
    flux: Counter = field(default_factory=Counter)  # (week, kind) -> candidatures
    seances: Counter = field(default_factory=Counter)  # (séance id, decision) -> dossiers
    decisions: Counter = field(default_factory=Counter)  # user id -> step decisions
    attributions: Counter = field(default_factory=Counter)  # user id -> open dossiers
    sorties: Counter = field(default_factory=Counter)  # step -> decisions, last 8 weeks
    computed_at: datetime | None = None

    def normalised(self) -> Facts:
        """Zero counts dropped and lists sorted, for comparisons."""
        def clean(counter: Counter) -> Counter:
            return Counter({k: v for k, v in counter.items() if v})
        return Facts(
            stock=clean(self.stock), stock_now=clean(self.stock_now),
            retard_now=clean(self.retard_now), ages=clean(self.ages),
            leads=clean(self.leads), tours=clean(self.tours),
            exigences=clean(self.exigences), flux=clean(self.flux),
            seances=clean(self.seances), decisions=clean(self.decisions),
            attributions=clean(self.attributions), sorties=clean(self.sorties))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Facts):
            return NotImplemented
        a, b = self.normalised(), other.normalised()
        return all(getattr(a, n) == getattr(b, n) for n in (
            "stock", "stock_now", "retard_now", "ages", "leads", "tours", "exigences",
            "flux", "seances", "decisions", "attributions", "sorties"))


def from_aggregates(filters: Filters) -> Facts:
    """Three grouped reads of the small aggregate tables (their index on metric, week,
    démarche) and one of the present state: a few thousand rows whatever the volume.
    The metrics summed over the whole period are read from the job's totals for that
    period when it wrote them this week, else grouped from the weekly rows (the same
    numbers: the totals are sums of those rows)."""
    facts = Facts()
    current_rows = db.execute(
        select(StatCurrent.metric, StatCurrent.step, StatCurrent.key, StatCurrent.count,
               StatCurrent.computed_at)
        .where(StatCurrent.demarche_code.in_(filters.demarches))).all()
    period = (StatWeekly.week >= min(filters.weeks), StatWeekly.week <= max(filters.weeks),
              StatWeekly.demarche_code.in_(filters.demarches))
    total, extra = func.sum(StatWeekly.count), func.sum(StatWeekly.extra)
    last_run = current_rows[0][4] if current_rows else None
    totals = None
    if last_run is not None and len(filters.weeks) in PERIODS:
        anchor = week_of(last_run)
        if filters.weeks == tuple(anchor - timedelta(days=7 * i)
                                  for i in range(len(filters.weeks) - 1, -1, -1)):
            totals = select(
                StatWeekly.metric, StatWeekly.demarche_code, StatWeekly.step, StatWeekly.key,
                StatWeekly.count, StatWeekly.extra).where(
                StatWeekly.metric.in_([f"{m}@{len(filters.weeks)}" for m in PERIOD_TOTALS]),
                StatWeekly.week == anchor, StatWeekly.demarche_code.in_(filters.demarches))
    for week, metric, step, key, count in db.execute(
            select(StatWeekly.week, StatWeekly.metric, StatWeekly.step, StatWeekly.key, total)
            .where(StatWeekly.metric.in_(("stock", "flux")), *period)
            .group_by(StatWeekly.week, StatWeekly.metric, StatWeekly.step, StatWeekly.key)):
        week = _date(week)
        if metric == "stock":
            facts.stock[(week, step)] += count
        else:
            facts.flux[(week, key)] += count
    if totals is None:
        totals = (select(StatWeekly.metric, StatWeekly.demarche_code, StatWeekly.step,
                         StatWeekly.key, total, extra)
                  .where(StatWeekly.metric.in_(PERIOD_TOTALS), *period)
                  .group_by(StatWeekly.metric, StatWeekly.demarche_code, StatWeekly.step,
                            StatWeekly.key))
    for name, code, step, key, count, more in db.execute(totals):
        metric = name.partition("@")[0]  # delai@26: the period's totals of delai
        if metric == "delai":
            days = int(key)
            facts.leads[(code, step, days, True)] += more
            facts.leads[(code, step, days, False)] += count - more
        elif metric == "tours":
            facts.tours[(step, int(key))] += count
        elif metric == "exigences":
            facts.exigences[(key, step, "nc")] += count
            facts.exigences[(key, step, "jugees")] += more
        elif metric == "seances":
            facts.seances[(int(key), step)] += count
        else:
            facts.decisions[int(key)] += count
    projection = filters.projection_weeks
    for step, count in db.execute(
            select(StatWeekly.step, total)
            .where(StatWeekly.metric == "sorties", StatWeekly.week >= min(projection),
                   StatWeekly.week <= max(projection),
                   StatWeekly.demarche_code.in_(filters.demarches))
            .group_by(StatWeekly.step)):
        facts.sorties[step] += count
    for metric, step, key, count, computed_at in current_rows:
        facts.computed_at = computed_at
        if metric == "stock":
            facts.stock_now[step] += count
        elif metric == "retard":
            facts.retard_now[step] += count
        elif metric == "ages":
            facts.ages[key] += count
        elif metric == "attributions":
            facts.attributions[int(key)] += count
    return facts


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
