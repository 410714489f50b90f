"""Periodic work without cron (issue 14): the job workers schedule it, each period's job
runs once however many workers there are. Real Redis; two real worker processes
(`python -m backoffice.worker`) on each database."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from backoffice import create_app
from backoffice.db import db, utcnow
from backoffice.models import Export, JobOutbox, OutboxMail
from jobs import periodiques
from tests.conftest import BACKENDS, TEST_REDIS_URL, base_config, fresh_database_url, missing_tier
from tests.factories import UserFactory
from tests.helpers import WORKER

ROOT = Path(__file__).resolve().parents[1]
PERIOD = 2  # seconds, for every periodic job in these tests
EVERY_JOB_FAST = ",".join(f"{p.name}={PERIOD}" for p in periodiques.PERIODIQUES)


def redis_or_skip():
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set (Redis tier)")
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    connection = Redis.from_url(TEST_REDIS_URL)
    try:
        connection.flushdb()
    except RedisConnectionError as exc:
        missing_tier(f"Redis unreachable at {TEST_REDIS_URL}: {exc}")
    return connection


@pytest.fixture
def redis():
    connection = redis_or_skip()
    yield connection
    connection.flushdb()


# --- the planner: one enqueue per slot, whoever ticks --------------------------------


@pytest.mark.redis
def test_planners_on_several_hosts_enqueue_each_slot_once(redis) -> None:
    from rq import Queue

    planners = [periodiques.Planificateur(redis, {"envoyer-mails": 60, "purger-taches": 300})
                for _ in range(3)]
    start = 1_800_000_000 - 1_800_000_000 % 300  # a slot boundary of both periods
    enqueued = []
    for second in range(0, 900, 7):  # 15 minutes, every host ticking at nearly the same time
        for offset, planner in enumerate(planners):
            enqueued += planner.tick(start + second + offset * 0.1)
    assert sorted(n for n, _ in enqueued).count("envoyer-mails") == 15
    assert sorted(n for n, _ in enqueued).count("purger-taches") == 3
    assert len(set(enqueued)) == len(enqueued)
    queued = Queue(periodiques.QUEUE, connection=redis).job_ids
    assert len(queued) == 18
    assert f"periodique-envoyer-mails-{start // 60}" in queued


@pytest.mark.redis
def test_planners_racing_in_threads_enqueue_each_slot_once(redis) -> None:
    from rq import Queue

    barrier = threading.Barrier(8)
    results: list = []

    def host() -> None:
        planner = periodiques.Planificateur(redis, {"envoyer-mails": 60})
        barrier.wait()
        results.append(planner.tick(1_800_000_000))

    threads = [threading.Thread(target=host) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(len(r) for r in results) == [0] * 7 + [1]
    assert len(Queue(periodiques.QUEUE, connection=redis)) == 1


def test_periods_come_from_periodic_jobs_setting(monkeypatch) -> None:
    monkeypatch.setenv("PERIODIC_JOBS", "envoyer-mails=30, purger-quarantaine=0")
    found = periodiques.periods()
    assert found["envoyer-mails"] == 30 and "purger-quarantaine" not in found
    assert found["purger-taches"] == 86400
    monkeypatch.setenv("PERIODIC_JOBS", "envoyer-courriels=30")
    with pytest.raises(ValueError, match="tâche périodique inconnue « envoyer-courriels »"):
        periodiques.periods()


@pytest.mark.redis
def test_a_run_is_skipped_while_the_previous_one_goes_on(redis, tmp_path) -> None:
    app = create_app({**base_config(tmp_path, f"sqlite:///{tmp_path / 'p.sqlite3'}"),
                      "REDIS_URL": TEST_REDIS_URL, "UPLOAD_TMP_MAX_AGE_HOURS": 1})
    stale = _stale_file(Path(app.config["STORAGE_DIR"]) / "tmp" / "upload-vieux", days=2)
    redis.set(periodiques.lock_key("purger-temporaires"), "another-run")
    with app.app_context():
        assert periodiques.executer("purger-temporaires", 1) == {
            "ignore": "exécution précédente en cours"}
        assert stale.exists()
        redis.delete(periodiques.lock_key("purger-temporaires"))
        assert periodiques.executer("purger-temporaires", 2) == 1
    assert not stale.exists()
    assert redis.get(periodiques.lock_key("purger-temporaires")) is None  # released
    [run] = periodiques.history(redis, "purger-temporaires")
    assert run["slot"] == 2 and run["resultat"] == 1 and run["fin"] >= run["debut"]
    listing = app.test_cli_runner().invoke(args=["taches-periodiques"]).output
    line = next(x for x in listing.splitlines() if x.startswith("purger-temporaires"))
    assert "toutes les 3600 s — dernière exécution" in line and "résultat : 1" in line
    assert "envoyer-mails          toutes les 60 s — jamais exécutée" in listing


@pytest.mark.redis
def test_a_long_run_keeps_its_lock_and_a_dead_run_frees_it_soon(redis, tmp_path,
                                                                monkeypatch) -> None:
    """The run lock lives LOCK_TTL and is renewed while the run goes on: a run longer than
    LOCK_TTL is still not overlapped; a run whose host died blocks the job LOCK_TTL at most
    (it used to hold it for the 30-minute run time limit)."""
    from jobs import maintenance

    app = create_app({**base_config(tmp_path, f"sqlite:///{tmp_path / 'p.sqlite3'}"),
                      "REDIS_URL": TEST_REDIS_URL})
    monkeypatch.setattr(periodiques, "LOCK_TTL", 0.6)
    key = periodiques.lock_key("purger-temporaires")
    seen: dict[str, object] = {}

    def long_run() -> int:
        if "ttl_ms" in seen:  # the overlapping run got in
            return 8
        time.sleep(2.0)  # over three lock lifetimes
        seen["ttl_ms"] = redis.pttl(key)
        with app.app_context():  # another worker's turn comes while this run goes on
            seen["overlap"] = periodiques.executer("purger-temporaires", 8)
        return 7

    monkeypatch.setattr(maintenance, "purger_temporaires", long_run)
    with app.app_context():
        assert periodiques.executer("purger-temporaires", 7) == 7
    assert seen["overlap"] == {"ignore": "exécution précédente en cours"}
    assert 0 < seen["ttl_ms"] <= 600  # renewed, and never longer than LOCK_TTL
    assert redis.get(key) is None
    # a host died mid-run: its lock was last renewed less than LOCK_TTL ago
    redis.set(key, "run-of-a-dead-host", px=600)
    monkeypatch.setattr(maintenance, "purger_temporaires", lambda: 3)
    with app.app_context():
        assert periodiques.executer("purger-temporaires", 9) == {
            "ignore": "exécution précédente en cours"}
        time.sleep(0.8)
        assert periodiques.executer("purger-temporaires", 10) == 3
    assert [run["slot"] for run in periodiques.history(redis, "purger-temporaires")] == [10, 7]


# --- two real workers ---------------------------------------------------------------


def _stale_file(path: Path, days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    old = time.time() - days * 86400
    os.utime(path, (old, old))
    return path


def _worker(tmp_path: Path, url: str, host: str, shared: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": TEST_REDIS_URL,
           "INSTANCE_DIR": str(tmp_path / host), "STORAGE_DIR": str(shared / "storage"),
           "MAIL_OUTBOX_DIR": str(shared / "mails"), "SECRET_KEY": "periodic-test",
           "PERIODIC_JOBS": EVERY_JOB_FAST, "QUARANTINE_RETENTION_DAYS": "1",
           "UPLOAD_TMP_MAX_AGE_HOURS": "1"}
    env.pop("MAIL_SERVER", None)
    # stderr to a file: a pipe read only at the end fills up (64 kB of INFO lines, seconds
    # at these periods) and blocks the worker on its next log line
    with (tmp_path / f"{host}.log").open("wb") as log:
        return subprocess.Popen(WORKER, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=log)


def _wait_for(lagging, timeout: float = 300) -> None:
    """Until `lagging()` is empty: every periodic job (fourteen now) runs several times,
    minutes on a loaded machine."""
    deadline = time.monotonic() + timeout
    while late := lagging():
        assert time.monotonic() < deadline, f"timed out, runs so far: {late}"
        time.sleep(0.2)


def _stop(worker: subprocess.Popen, log: Path) -> str:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    return log.read_text(errors="replace")


@pytest.mark.redis
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_workers_run_each_periodic_job_once_per_period(backend, redis, tmp_path) -> None:
    shared = tmp_path / "shared"
    url = fresh_database_url(backend, tmp_path, "periodic")
    app = create_app({**base_config(tmp_path, url), "STORAGE_DIR": str(shared / "storage")})
    with app.app_context():
        db.add(OutboxMail(recipient="contact@editeur.example.fr", subject="Objet", body="Corps"))
        db.add(JobOutbox(job_name="audit.verify_chain", args=[]))  # kept while Redis was down
        db.add(JobOutbox(job_name="audit.verify_chain", args=[],
                         enqueued_at=utcnow() - timedelta(days=8)))  # sent long ago
        requester = UserFactory(totp=False)
        for key, hours in (("1-expire.csv", -1), ("2-garde.csv", 1)):  # queue exports
            db.add(Export(requester_id=requester.id, format="csv", status="pret", file_key=key,
                          expires_at=utcnow() + timedelta(hours=hours)))
        db.commit()
    app.extensions["db_engine"].dispose()
    storage = shared / "storage"
    old_export = _stale_file(storage / "exports" / "1-expire.csv", days=0)
    kept_export = _stale_file(storage / "exports" / "2-garde.csv", days=0)
    stale_tmp = _stale_file(storage / "tmp" / "upload-interrompu", days=2)
    fresh_tmp = _stale_file(storage / "tmp" / "upload-en-cours", days=0)
    old_quarantine = _stale_file(storage / "quarantaine" / "fichier-1", days=10)
    fresh_quarantine = _stale_file(storage / "quarantaine" / "fichier-2", days=0)

    hosts = ("hote-a", "hote-b")
    workers = [_worker(tmp_path, url, host, shared) for host in hosts]
    errors: list[str] = []
    try:
        def lagging(wanted: dict[str, int]) -> dict[str, int]:
            """The jobs with fewer runs than wanted, and how many they have."""
            counts = {name: len(periodiques.history(redis, name)) for name in wanted}
            return {name: n for name, n in counts.items() if n < wanted[name]}

        _wait_for(lambda: lagging({p.name: 4 for p in periodiques.PERIODIQUES}))
        # one host goes away: the other takes over its share, still once per slot
        before = {p.name: len(periodiques.history(redis, p.name))
                  for p in periodiques.PERIODIQUES}
        errors.append(_stop(workers[0], tmp_path / f"{hosts[0]}.log"))
        _wait_for(lambda: lagging({n: before[n] + 3 for n in before}))
    finally:
        errors += [_stop(w, tmp_path / f"{host}.log")
                   for w, host in zip(workers, hosts, strict=True) if w.poll() is None]
    log = "\n".join(errors)

    for periodique in periodiques.PERIODIQUES:
        history = periodiques.history(redis, periodique.name)
        slots = [run["slot"] for run in history]
        assert len(slots) == len(set(slots)), f"{periodique.name} ran twice in a slot: {slots}"
        failed = [run["erreur"] for run in history if "erreur" in run]
        assert not failed, (periodique.name, failed, log[-2000:])
        # periods left out while a worker was up: at most one at the hand-over, and one
        # for a CPU-starved machine (2-second periods)
        assert max(slots) - min(slots) + 1 - len(slots) <= 2, (periodique.name, slots)
    # what they did, once
    assert len(list((shared / "mails").glob("*.eml"))) == 1
    assert not stale_tmp.exists() and fresh_tmp.exists()
    assert not old_quarantine.exists() and fresh_quarantine.exists()
    assert not old_export.exists() and kept_export.exists()
    with app.app_context():
        assert [e.status for e in db.scalars(select(Export).order_by(Export.id))] == \
            ["expire", "pret"]
        [mail] = db.scalars(select(OutboxMail)).all()
        assert mail.status == "envoye" and mail.attempts == 1
        [job] = db.scalars(select(JobOutbox)).all()  # the old sent one was purged
        assert job.enqueued_at is not None and job.attempts == 1
    app.extensions["db_engine"].dispose()
    # the slots claimed after the hand-over were all the second host's
    owners = {redis.get(key).decode() for key in redis.scan_iter(f"{periodiques.PREFIX}:*:*")
              if not key.endswith((b":verrou", b":historique"))}
    assert any(owner.endswith(f":{workers[1].pid}") for owner in owners), owners
