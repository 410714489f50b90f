"""Definitions shared by the aggregates and the naive computation, so that both count
the same thing (docs/statistics.md says each in words)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Where a decision ends a candidature with a verdict (not withdrawn or closed).
DECIDED = ("certifiee", "referencee", "avis_rendu", "rejetee")
GRANTED = ("certifiee", "referencee")
# Décret n° 2023-1315: the whole DMN procedure within 6 months.
END_TO_END_DAYS = 183
END_TO_END_PARCOURS = "dmn"
AGE_BUCKETS = ((7, "0 à 7 jours"), (30, "8 à 30 jours"), (60, "31 à 60 jours"),
               (90, "61 à 90 jours"), (180, "91 à 180 jours"), (None, "plus de 180 jours"))
PROJECTION_WEEKS = 8
# The periods of the page (weeks) and the metrics it sums over a whole period: the job
# keeps their totals per period (aggregate._period_totals).
PERIODS = (8, 12, 26, 52)
PERIOD_TOTALS = ("delai", "tours", "exigences", "seances", "decisions")


# Weeks and months are those of the agency's calendar: a week begins on Monday at 00:00
# in Paris (23:00 or 22:00 UTC on the Sunday), whatever the server's time zone.
PARIS = ZoneInfo("Europe/Paris")


def _in_paris(at: datetime) -> datetime:
    """A stored time (UTC; naive values from SQLite are UTC) seen from Paris."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(PARIS)


def week_of(at: datetime | date) -> date:
    """The Monday of the week of `at`, in Paris time (a date is taken as a Paris day)."""
    day = _in_paris(at).date() if isinstance(at, datetime) else at
    return day - timedelta(days=day.weekday())


def week_start(week: date) -> datetime:
    """When the week of Monday `week` begins: Monday 00:00 in Paris, as a UTC time."""
    return datetime.combine(week, time(), tzinfo=PARIS).astimezone(UTC)


def week_end(week: date, at: datetime) -> datetime:
    """When a week's snapshot is taken: its end (the next Monday 00:00 in Paris), or `at`
    for the week in progress."""
    return min(week_start(week + timedelta(days=7)), at)


def month_of(at: datetime) -> date:
    """The first day of the month of `at`, in Paris time."""
    return _in_paris(at).date().replace(day=1)


def month_start(month: date) -> datetime:
    """When the month of `month` (its first day) begins in Paris, as a UTC time."""
    return datetime.combine(month, time(), tzinfo=PARIS).astimezone(UTC)


def day_bucket(days: float) -> int:
    """Lead times are counted in whole days begun (2.1 days: 3)."""
    return max(math.ceil(round(days, 6)), 0)


def age_bucket(days: float) -> str:
    for limit, label in AGE_BUCKETS:
        if limit is None or days <= limit:
            return label
    return AGE_BUCKETS[-1][1]


def nearest_rank(histogram: dict[int, int], share: float) -> int | None:
    """The nearest-rank percentile (median: share 0.5, 9th decile: 0.9) of the values
    a histogram {value: how many} counts."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(math.ceil(share * total), 1), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None


def end_to_end_days(submitted_at: datetime, closed_at: datetime, paused: float) -> float:
    """Calendar days from the first submission to the final decision, less the days the
    vendor had the file (compléments, modifications): the clock of the law is stopped."""
    return (closed_at - submitted_at).total_seconds() / 86400 - paused
