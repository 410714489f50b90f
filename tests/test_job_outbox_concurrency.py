"""Two pushers of the job outbox at once (after-commit pushes, every host's periodic
job, `flask pousser-taches`) never push one row twice: real Redis, real database (the
rows are committed, as in production)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from backoffice import create_app
from backoffice.db import db
from backoffice.models import JobOutbox
from backoffice.tasks import push_outbox
from tests.conftest import BACKENDS, TEST_REDIS_URL, base_config, fresh_database_url, missing_tier

ROWS = 300


@pytest.fixture(params=BACKENDS)
def outbox_app(request, tmp_path):
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set (Redis tier)")
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        Redis.from_url(TEST_REDIS_URL).flushdb()
    except RedisConnectionError as exc:
        missing_tier(f"Redis unreachable at {TEST_REDIS_URL}: {exc}")
    url = fresh_database_url(request.param, tmp_path, "pushers")
    app = create_app({**base_config(tmp_path, url), "REDIS_URL": TEST_REDIS_URL})
    yield app
    app.extensions["db_engine"].dispose()
    Redis.from_url(TEST_REDIS_URL).flushdb()


@pytest.mark.redis
def test_two_pushers_at_once_push_each_row_once(outbox_app) -> None:
    from redis import Redis

    with outbox_app.app_context():
        db.add_all([JobOutbox(job_name="audit.verify_chain", args=[]) for _ in range(ROWS)])
        db.commit()
        ids = set(db.scalars(select(JobOutbox.id)))
    start = threading.Barrier(2)
    counts: list[int] = []

    def pusher() -> None:
        with outbox_app.app_context():
            start.wait()
            counts.append(push_outbox(limit=10 * ROWS))

    threads = [threading.Thread(target=pusher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    queued = [i.decode() for i in Redis.from_url(TEST_REDIS_URL).lrange("rq:queue:audit", 0, -1)]
    assert len(queued) == ROWS, f"{len(queued) - len(set(queued))} pushed twice"
    assert set(queued) == {f"outbox-{i}" for i in ids}
    assert len(counts) == 2 and sum(counts) == ROWS
    if outbox_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # SQLite has one writer: there the second pusher may well find nothing to do
        assert min(counts) > 0, f"the pushers did not overlap: {counts}"
    with outbox_app.app_context():
        rows = db.scalars(select(JobOutbox)).all()
        assert all(r.enqueued_at is not None and r.attempts == 1 for r in rows)
