"""The lists the queue's filters offer (colleagues, campaign windows) are kept between pages
(queues/cache.py) and read again as soon as an account, a team or a window changes. (The
home page's counts are kept by the transactions: tests/reviewer/test_queue_counts.py.)"""

from __future__ import annotations

import pytest

from backoffice.db import db
from backoffice.queues.cache import QueueCache
from tests.conftest import TEST_REDIS_URL, missing_tier
from tests.reviewer.test_queue import count_queries


@pytest.fixture
def cached(app, monkeypatch):
    cache = QueueCache(60, None)
    monkeypatch.setitem(app.extensions, "queue_cache", cache)
    return cache


@pytest.mark.redis
def test_generation_is_shared_by_processes_through_redis() -> None:
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set")
    worker_a, worker_b = QueueCache(60, TEST_REDIS_URL), QueueCache(60, TEST_REDIS_URL)
    calls: list[str] = []

    def compute(name: str):
        return lambda: calls.append(name) or len(calls)

    assert worker_a.get("k", compute("a")) == 1
    assert worker_a.get("k", compute("a")) == 1  # kept
    worker_b.bump()  # a commit in another gunicorn worker or an rq worker
    assert worker_a.get("k", compute("a")) == 2
    assert calls == ["a", "a"]


def test_redis_down_counts_every_time() -> None:
    down = QueueCache(60, "redis://127.0.0.1:1/0")  # nothing listens there
    calls: list[int] = []
    for _ in range(3):
        down.get("k", lambda: calls.append(1))
    assert len(calls) == 3
    down.bump()  # no error either


def test_colleagues_and_windows_are_kept_until_an_account_or_window_changes(desk, cached) -> None:
    from tests.factories import UserFactory

    def queue_queries() -> int:
        with count_queries() as statements:
            assert desk.client.get("/instruction/file").status_code == 200
        return len(statements)

    desk.candidature()
    queue_queries()
    kept = queue_queries()
    cached.seconds = 0.0
    assert queue_queries() == kept + 2  # colleagues and campaign windows read again
    cached.seconds = 60.0
    queue_queries()

    # a vérificateur joins the team (admin): in the "Attribution" list at once
    nadia = UserFactory(name="Nadia Nouvelle", roles=["verificateur"], teams=desk.me.teams)
    db.commit()
    assert "Nadia Nouvelle" in desk.client.get("/instruction/file").get_data(as_text=True)
    # and deactivated: gone at once
    nadia.active = False
    db.commit()
    assert "Nadia Nouvelle" not in desk.client.get("/instruction/file").get_data(as_text=True)
