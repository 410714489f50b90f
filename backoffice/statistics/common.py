"""Definitions shared by the aggregates and the naive computation, so that both count
the same thing (docs/statistics.md says each in words)."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

# Where a decision ends a candidature with a verdict (not withdrawn or closed).
DECIDED = ("certifiee", "referencee", "avis_rendu", "rejetee")
GRANTED = ("certifiee", "referencee")
# Décret n° 2023-1315: the whole DMN procedure within 6 months.
END_TO_END_DAYS = 183
END_TO_END_PARCOURS = "dmn"
AGE_BUCKETS = ((7, "0 à 7 jours"), (30, "8 à 30 jours"), (60, "31 à 60 jours"),
               (90, "61 à 90 jours"), (180, "91 à 180 jours"), (None, "plus de 180 jours"))
PROJECTION_WEEKS = 8


def week_of(at: datetime | date) -> date:
    """The Monday (UTC) of the week of `at`."""
    day = at.date() if isinstance(at, datetime) else at
    return day - timedelta(days=day.weekday())


def week_end(week: date, at: datetime) -> datetime:
    """When a week's snapshot is taken: its end, or `at` for the week in progress."""
    from datetime import UTC, time

    end = datetime.combine(week + timedelta(days=7), time(), tzinfo=UTC)
    return min(end, at)


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
