"""Lists shared by a team, kept until the queues change.

The colleagues and campaign windows the queue's filters list are kept in each process,
tagged with the queues' *generation*: a number bumped after every commit that changed an
account, a team or a window, or a candidature's place in the queues
(models/candidature.py flags the session in `before_flush`). A value computed at an older
generation is never served; a change anywhere shows on the next page. The generation
lives in Redis in production (shared by every gunicorn worker and `rq worker`), in this
process in embedded mode. With Redis unreachable nothing is cached. Past
`QUEUE_CACHE_SECONDS` a value is computed again anyway (rows written outside the
application bump nothing). The home page's counts are not kept here: the transactions
keep them (models/queue_count.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
T = TypeVar("T")
GENERATION_KEY = "backoffice:queues:generation"
CHANGED = "queues_changed"  # flag in Session.info, set by models/candidature.py


class QueueCache:
    def __init__(self, seconds: float, redis_url: str | None) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._generation = 0
        self._entries: dict[Hashable, tuple[int, float, Any]] = {}
        self._redis = None
        if redis_url:
            from redis import Redis

            self._redis = Redis.from_url(redis_url, socket_timeout=0.5,
                                         socket_connect_timeout=0.5)

    def generation(self) -> int | None:
        """The queues' generation; None when it cannot be known (Redis down)."""
        if self._redis is None:
            return self._generation
        try:
            # a synchronous client: bytes or None (the stubs also cover the asyncio one)
            return int(cast(bytes | None, self._redis.get(GENERATION_KEY)) or 0)
        except Exception as exc:
            log.warning("queue cache: Redis unavailable (%s), counts computed", exc)
            return None

    def bump(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
        if self._redis is not None:
            try:
                self._redis.incr(GENERATION_KEY)
            except Exception as exc:
                # other processes keep their values until their time is up
                log.warning("queue cache: generation not shared (%s)", exc)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if self.seconds <= 0:
            return compute()
        generation = self.generation()  # read before computing: a value is never newer
        if generation is None:
            return compute()
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] == generation and entry[1] > now:
            return entry[2]
        value = compute()
        with self._lock:
            self._entries[key] = (generation, now + self.seconds, value)
        return value


def queue_cache() -> QueueCache:
    return current_app.extensions["queue_cache"]


@event.listens_for(Session, "before_flush")
def _flag_reference_changes(session: Session, _context: object, _instances: object) -> None:
    """Accounts, teams and campaign windows are kept too (colleagues, filters)."""
    from backoffice.models import CampaignWindow, Team, User

    if not session.info.get(CHANGED) and any(
            isinstance(obj, (User, Team, CampaignWindow))
            for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[CHANGED] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    if session.info.pop(CHANGED, False) and has_app_context():
        cache = current_app.extensions.get("queue_cache")
        if cache is not None:
            cache.bump()
    # a rolled back change leaves the flag for the next commit: one needless bump at
    # worst, never a change missed (a savepoint's rollback keeps the outer changes)


def init_app(app: Flask) -> None:
    app.extensions["queue_cache"] = QueueCache(
        float(app.config.get("QUEUE_CACHE_SECONDS", 60)), app.config.get("REDIS_URL"))
