"""Jobs plumbing: after commit, in-process (embedded) or on RQ (Redis tier)."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from sqlalchemy import update

from backoffice import audit, create_app
from backoffice.db import db
from backoffice.models import AuditEvent
from backoffice.tasks import after_commit, all_queues, enqueue, resolve
from jobs import job
from tests.conftest import BACKENDS, TEST_REDIS_URL, base_config, fresh_database_url, missing_tier
from tests.helpers import WORKER, audit_triggers_disabled

ROOT = Path(__file__).resolve().parents[1]
CALLS: list[tuple] = []


@pytest.fixture
def probe_jobs(monkeypatch):
    """A `jobs.probe` module whose jobs record their calls (the plumbing under test is
    the real one)."""
    module = types.ModuleType("jobs.probe")

    @job
    def remember(*ids):
        CALLS.append(ids)

    @job
    def explode(*ids):
        raise RuntimeError("job failed")

    module.remember, module.explode = remember, explode
    monkeypatch.setitem(sys.modules, "jobs.probe", module)
    CALLS.clear()
    yield module
    CALLS.clear()


def test_job_runs_in_process_only_after_commit(app, ctx, probe_jobs) -> None:
    after_commit(enqueue, "probe.remember", 7, 8)
    db.flush()
    assert CALLS == []
    db.commit()
    assert CALLS == [(7, 8)]


def test_job_is_dropped_on_rollback(app, ctx, probe_jobs) -> None:
    after_commit(enqueue, "probe.remember", 1)
    db.rollback()
    db.commit()
    assert CALLS == []


def test_in_process_failure_is_raised_in_tests(app, ctx, probe_jobs) -> None:
    with pytest.raises(RuntimeError, match="job failed"):
        enqueue("probe.explode", 1)


def test_in_process_failure_is_logged_and_shown_never_swallowed(app, ctx, probe_jobs, caplog) -> None:  # noqa: E501
    app.config["JOBS_RAISE"] = False
    try:
        with app.test_request_context("/"):
            from flask import get_flashed_messages

            assert enqueue("probe.explode", 42) is None
            flashed = get_flashed_messages(with_categories=True)
    finally:
        app.config["JOBS_RAISE"] = True
    assert ("error", "Une tâche de fond a échoué ; l'équipe technique en a été informée "
            "(tâche probe.explode).") in flashed
    assert any("probe.explode" in r.getMessage() and r.exc_info for r in caplog.records)


def test_job_names_resolve_to_the_jobs_package() -> None:
    assert resolve("audit.verify_chain").__module__ == "jobs.audit"
    with pytest.raises(ValueError):
        resolve("verify_chain")
    assert "audit" in all_queues()


def test_audit_verification_job_in_process(app, ctx, tmp_path, monkeypatch) -> None:
    # the session's application is shared: its checkpoints must not outlive this test
    monkeypatch.setitem(app.config, "AUDIT_CHECKPOINT_DIR", str(tmp_path))
    event = audit.record("test", "test.evenement", "base")
    assert enqueue("audit.verify_chain")["ok"] is True
    assert enqueue("audit.checkpoint") == {"ok": True, "checked": 0}  # nothing new since
    assert (tmp_path / f"{event.id:015d}.json").is_file()


# --- Redis tier: a real Redis and a real `rq worker` process -------------------------


@pytest.fixture(params=BACKENDS)
def redis_app(request, tmp_path):
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set (Redis tier)")
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        Redis.from_url(TEST_REDIS_URL).ping()
    except RedisConnectionError as exc:
        missing_tier(f"Redis unreachable at {TEST_REDIS_URL}: {exc}")
    Redis.from_url(TEST_REDIS_URL).flushdb()
    url = fresh_database_url(request.param, tmp_path, "jobs")
    app = create_app({**base_config(tmp_path, url), "REDIS_URL": TEST_REDIS_URL})
    yield app
    app.extensions["db_engine"].dispose()
    Redis.from_url(TEST_REDIS_URL).flushdb()


def _worker_env(app) -> dict[str, str]:
    return {**os.environ,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": TEST_REDIS_URL,
            "INSTANCE_DIR": app.config["INSTANCE_DIR"],
            "SECRET_KEY": "worker-secret"}


def _run_worker(app) -> subprocess.CompletedProcess:
    return subprocess.run([*WORKER, "--burst"], cwd=ROOT, env=_worker_env(app),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.redis
def test_job_goes_through_redis_to_a_worker_process(redis_app) -> None:
    with redis_app.app_context():
        for i in range(3):
            audit.record("test", "test.evenement", "base", after={"i": i})
        jobs = []
        after_commit(lambda: jobs.append(enqueue("audit.verify_chain")))
        db.commit()
        assert len(jobs) == 1 and jobs[0].get_status() == "queued"
    worker = _run_worker(redis_app)
    assert worker.returncode == 0, worker.stderr
    job_ = jobs[0]
    job_.refresh()
    assert job_.get_status() == "finished", worker.stderr
    assert job_.return_value() == {"ok": True, "checked": 3, "checkpoint": 3}


@pytest.mark.redis
def test_failed_job_is_kept_visible_by_rq(redis_app) -> None:
    from rq import Queue

    with redis_app.app_context():
        audit.record("test", "test.evenement", "base")
        audit.record("test", "test.evenement", "base")
        db.commit()
        with audit_triggers_disabled(db):
            db.execute(update(AuditEvent).where(AuditEvent.id == 1).values(action="falsifie"))
        db.commit()
        queued = enqueue("audit.verify_chain")
    _run_worker(redis_app)
    queued.refresh()
    assert queued.get_status() == "failed"
    assert "audit chain broken at row 1" in (queued.latest_result().exc_string or "")
    failed = Queue("audit", connection=queued.connection).failed_job_registry
    assert queued.id in failed.get_job_ids()


@pytest.mark.redis
def test_the_worker_runs_a_retry_when_it_is_due(redis_app) -> None:
    """A failed job with retries left waits in RQ's scheduled registry: the worker's
    scheduler puts it back on its queue when due (without it the retry never runs)."""
    import time

    from rq import Queue, Retry

    from jobs.audit import verify_chain

    with redis_app.app_context():
        audit.record("test", "test.evenement", "base")
        audit.record("test", "test.evenement", "base")
        db.commit()
        with audit_triggers_disabled(db):  # the job fails at each run
            db.execute(update(AuditEvent).where(AuditEvent.id == 1).values(action="falsifie"))
        db.commit()
        from backoffice.tasks import redis_connection

        queued = Queue("audit", connection=redis_connection()).enqueue(
            verify_chain, retry=Retry(max=1, interval=1))
    worker = subprocess.Popen([*WORKER, "audit"], cwd=ROOT, env=_worker_env(redis_app),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while queued.get_status(refresh=True) != "failed" and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.terminate()
        _, errors = worker.communicate(timeout=30)
    queued.refresh()
    # the first failure left it "scheduled" with no retry left: "failed" is the retry's
    assert queued.get_status() == "failed", errors
    assert queued.retries_left == 0



@pytest.mark.parametrize("backend", BACKENDS)
def test_sent_jobs_are_forgotten_after_a_week(backend, tmp_path) -> None:
    """The purge runs on its own connection (after commits): a database of its own."""
    from datetime import timedelta

    from sqlalchemy import select

    from backoffice.db import utcnow
    from backoffice.models import JobOutbox
    from backoffice.tasks import purge_outbox

    url = fresh_database_url(backend, tmp_path, "outbox")
    app = create_app(base_config(tmp_path, url))
    try:
        with app.app_context():
            now = utcnow()
            old = JobOutbox(job_name="audit.verify_chain", args=[],
                            enqueued_at=now - timedelta(days=8))
            recent = JobOutbox(job_name="audit.verify_chain", args=[],
                               enqueued_at=now - timedelta(days=1))
            unsent = JobOutbox(job_name="audit.verify_chain", args=[], enqueued_at=None,
                               created_at=now - timedelta(days=30))
            db.add_all([old, recent, unsent])
            db.flush()
            kept = {recent.id, unsent.id}
            db.commit()
            db.remove()  # let go of the database (SQLite: the purge writes)
            assert purge_outbox() == 1
            db.remove()
            assert set(db.scalars(select(JobOutbox.id))) == kept
            db.remove()
            assert purge_outbox() == 0
    finally:
        app.extensions["db_engine"].dispose()


def test_the_worker_refuses_an_unknown_queue_and_a_missing_redis(tmp_path, capsys) -> None:
    from backoffice import worker

    with pytest.raises(SystemExit):
        worker.main(["certificats", "inconnue"])
    assert "file(s) inconnue(s) : inconnue" in capsys.readouterr().err
    app = create_app({**base_config(tmp_path, f"sqlite:///{tmp_path / 'w.sqlite3'}"),
                      "REDIS_URL": None})
    with pytest.raises(SystemExit, match="REDIS_URL n'est pas défini"):
        worker.build_worker(app, ["certificats"])
