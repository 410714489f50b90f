"""Due dates of the steps a vérificateur instructs (design.md, Delays).

The delay of a (démarche, step) is set by an admin in calendar or working days (French
public holidays excluded, from the `holidays` library). The clock stops while the vendor
has the file and, on resubmission, goes on with what was left: paused, then resumed —
neither restarted from the full delay nor counting the vendor's time."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import Float, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from backoffice.db import db
from backoffice.models import CandidatureStep, DelayRule

PARIS = ZoneInfo("Europe/Paris")

# The defaults are reference data (data/demarches.json, loaded by init-db); admins change
# them in the administration (DelayRule).


@lru_cache(maxsize=16)
def _french_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("FR", years=year)


def is_working_day(day: datetime) -> bool:
    local = day.astimezone(PARIS).date()
    return local.weekday() < 5 and local not in _french_holidays(local.year)


def add_days(start: datetime, days: float, working: bool) -> datetime:
    """start + days, counting only working days (Paris calendar) when asked. A fraction
    of a day (what was left at a pause) is added as time."""
    if not working:
        return start + timedelta(days=days)
    whole, fraction = int(days), days - int(days)
    current = start
    while whole > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            whole -= 1
    current += timedelta(days=fraction)
    # what was left at a pause rarely is a whole number of days: its fraction must not
    # carry the due date onto a week-end or a public holiday, where it would count for
    # nothing (a working-day delay ends on a working day)
    while fraction and not is_working_day(current):
        current += timedelta(days=1)
    return current


def days_between(start: datetime, end: datetime, working: bool) -> float:
    """How many (working) days from start to end; negative when end is before start."""
    if not working:
        return (end - start).total_seconds() / 86400
    sign, (a, b) = (1, (start, end)) if end >= start else (-1, (end, start))
    count, current = 0.0, a
    while current + timedelta(days=1) <= b:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    count += (b - current).total_seconds() / 86400 if is_working_day(b) else 0
    return sign * count


def rule_for(demarche_code: str, step: str) -> DelayRule | None:
    return db.scalar(
        select(DelayRule).where(DelayRule.demarche_code == demarche_code, DelayRule.step == step)
    )


def start_clock(step: CandidatureStep, demarche_code: str, at: datetime) -> None:
    """The step reaches ANS: its due date is set (kept if the clock already runs)."""
    if step.due_at is not None or step.paused_at is not None:
        return
    rule = rule_for(demarche_code, step.step)
    if rule is not None:
        step.due_at = add_days(at, rule.days, rule.working_days)


def pause_clock(step: CandidatureStep, demarche_code: str, at: datetime) -> None:
    """The vendor has the file: keep what is left, clear the due date."""
    if step.due_at is None:
        return
    rule = rule_for(demarche_code, step.step)
    working = bool(rule and rule.working_days)
    step.remaining_days = days_between(at, step.due_at, working)
    step.paused_at, step.due_at = at, None


def resume_clock(step: CandidatureStep, demarche_code: str, at: datetime) -> None:
    """The vendor answered: the clock goes on from `at` with what was left at the pause
    (not less than zero) — the days already counted stay counted, the delay does not
    start again, and the time the vendor had the file is not counted against ANS."""
    if step.paused_at is None:
        start_clock(step, demarche_code, at)
        return
    step.resumed_at = at
    rule = rule_for(demarche_code, step.step)
    working = bool(rule and rule.working_days)
    step.paused_days = (step.paused_days or 0.0) + max(
        (at - step.paused_at).total_seconds() / 86400, 0.0)
    step.due_at = add_days(at, max(step.remaining_days or 0.0, 0.0), working)
    step.paused_at, step.remaining_days = None, None


def stop_clock(step: CandidatureStep) -> None:
    """The step is decided (or the candidature ended): the clock stops. For a decision,
    what the clock counted is kept for the statistics (record_lead)."""
    if step.decided_at is not None:
        record_lead(step)
    step.due_at = step.paused_at = step.remaining_days = None


def record_lead(step: CandidatureStep) -> None:
    """The days the step's clock ran until its decision, pauses excluded (the rule's
    unit: calendar or working days), and whether it was within the delay: the delay
    minus what was left at the decision (negative when overdue). A step without a rule,
    or whose clock never started, has no lead time."""
    if step.decided_at is None or (step.due_at is None and step.remaining_days is None):
        return  # undecided (stop_clock checks it), or the clock never started
    rule = rule_for(step.candidature.demarche_code, step.step)
    if rule is None:
        return
    left = (days_between(step.decided_at, step.due_at, rule.working_days)
            if step.due_at is not None else step.remaining_days or 0.0)
    step.lead_days = max(rule.days - left, 0.0)
    step.within_delay = left >= 0


class days_left(FunctionElement[float]):
    """Calendar days from `now` to a due date, in SQL, for sorting and flagging queues:
    days_left(CandidatureStep.due_at, now)."""

    type = Float()
    inherit_cache = True


@compiles(days_left, "postgresql")
def _days_left_pg(element: days_left, compiler, **kw) -> str:
    due, at = list(element.clauses)
    return (f"(EXTRACT(EPOCH FROM ({compiler.process(due, **kw)} - "
            f"CAST({compiler.process(at, **kw)} AS TIMESTAMPTZ))) / 86400.0)")


@compiles(days_left, "sqlite")
def _days_left_sqlite(element: days_left, compiler, **kw) -> str:
    due, at = list(element.clauses)
    return f"(julianday({compiler.process(due, **kw)}) - julianday({compiler.process(at, **kw)}))"


def days_left_expr(at: datetime) -> ColumnElement[float]:
    from sqlalchemy import literal

    from backoffice.db import UTCDateTime

    return days_left(CandidatureStep.due_at, literal(at, UTCDateTime()))
