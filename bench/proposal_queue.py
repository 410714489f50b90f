"""Proposal P4 as code, for measurement on a copy of a bench database that has the
`candidature.waiting_since` column and its index (bench.whatif makes one): the queue
sorted by that column, and the keyset written as a row comparison
`(waiting_since, id) > (:value, :id)`, which PostgreSQL answers with an index range
instead of filtering from the start of the index.

`with proposed_queue(): ...` swaps backoffice.queues.candidatures' sort key and page()
for the duration of the block; the application's code is not changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import literal, literal_column, tuple_

from backoffice.db import UTCDateTime, db
from backoffice.models import Candidature
from backoffice.queues import candidatures as queue

WAITING_SINCE = literal_column("candidature.waiting_since", UTCDateTime())
# Once migration 0009 (the queue projection) is in the code, the application sorts on its
# own column: only the row-comparison keyset (P4b) is left to swap in.
PROJECTED = "queue_since" in Candidature.__table__.c


def _sort_key(sort: str, *args: Any) -> tuple[Any, bool]:
    if sort == "attente" and not PROJECTED:
        return WAITING_SINCE, False
    return _original_sort_key(sort, *args)


def page(user, filters, *, after=None, limit=queue.PAGE_SIZE, now):  # noqa: ANN001, ANN201
    stmt, sort_expr, descending = queue.base_query(user, filters, now)
    if after:
        value, row_id = queue.decode_cursor(after)
        key = tuple_(sort_expr, Candidature.id)
        bound = tuple_(literal(value, UTCDateTime()), literal(row_id))
        stmt = stmt.where(key < bound if descending else key > bound)
    order = ((sort_expr.desc(), Candidature.id.desc()) if descending
             else (sort_expr.asc(), Candidature.id.asc()))
    result = db.execute(stmt.order_by(*order).limit(limit + 1)).all()
    rows = [queue._row(r) for r in result[:limit]]
    next_cursor = None
    if len(result) > limit:
        last = result[limit - 1]
        next_cursor = queue.encode_cursor(queue._as_utc(last.sort_value), last.id)
    return rows, next_cursor


_original_sort_key = queue._sort_key


def apply(names: set[str]) -> None:
    """For a bench server process (BENCH_PROPOSALS=queue): keep the proposal on for the
    life of the process. (P2, P8: applied in the application since.)"""
    if "queue" in names:
        queue._sort_key, queue.page = _sort_key, page


@contextmanager
def proposed_queue() -> Iterator[None]:
    saved = queue._sort_key, queue.page
    queue._sort_key, queue.page = _sort_key, page
    try:
        yield
    finally:
        queue._sort_key, queue.page = saved
