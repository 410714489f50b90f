"""Background work plumbing: `schedule`, `after_commit` and `enqueue`.

A transition calls `schedule("certificats.emettre", candidature.id)`:
- production (REDIS_URL set): a JobOutbox row is written in the transaction of the change
  (transactional outbox: the job exists if and only if the change committed); once the
  transaction commits the row is pushed to its RQ queue and marked sent. While Redis is
  down the push fails, the row stays pending and the page is served as usual; the next
  successful push, or `flask pousser-taches` (run by cron), sends what was kept.
- embedded mode: the job runs in-process right after commit in a fresh application
  context (so it gets its own session). Failed in-process jobs are logged and flashed,
  never swallowed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app, flash, has_request_context
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from backoffice.db import db, utcnow

log = logging.getLogger(__name__)

_PENDING = "backoffice_after_commit"


def after_commit(fn: Callable[..., Any], *args: Any, session: Session | None = None) -> None:
    """Run fn(*args) once the current transaction has committed; drop it on rollback."""
    session = session or db()
    # a transaction must exist for its rollback to drop fn: with none begun yet, a
    # rollback() emits no event and fn would run at the next, unrelated commit
    session.connection()
    session.info.setdefault(_PENDING, []).append((fn, args))


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for fn, args in pending:
        fn(*args)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def schedule(job_name: str, *ids: int | str, session: Session | None = None) -> None:
    """Run the job once the current transaction has committed (see the module's doc)."""
    session = session or db()
    if not current_app.config.get("REDIS_URL"):
        after_commit(enqueue, job_name, *ids, session=session)
        return
    from backoffice.models import JobOutbox

    resolve(job_name)  # an unknown job fails now, inside the transaction
    row = JobOutbox(job_name=job_name, args=list(ids))
    session.add(row)
    session.flush()
    after_commit(push_outbox, row.id, session=session)


def push_outbox(first_id: int | None = None, limit: int = 500) -> int:
    """Push pending outbox rows to RQ (the given one first, then older ones left behind
    by an outage); returns how many were pushed. Stops at the first Redis failure: the
    rows stay pending, nothing is lost. Runs on its own connections (called after commit).

    Several pushers may run at once (after every commit, on every host's periodic job,
    `flask pousser-taches`): each row is pushed in a transaction of its own that holds it
    (`FOR UPDATE SKIP LOCKED`: another pusher takes the next row instead of waiting;
    SQLite: BEGIN IMMEDIATE, one pusher at a time) and marks it sent before letting go,
    so that no row reaches Redis twice."""
    engine = current_app.extensions["db_engine"]
    pushed = 0
    if first_id is not None:
        outcome = _push_one(engine, only_id=first_id)
        if outcome == "failed":
            return 0
        pushed += outcome == "pushed"
    while pushed < limit:
        outcome = _push_one(engine)
        if outcome != "pushed":
            break
        pushed += 1
    return pushed


def _push_one(engine: Any, only_id: int | None = None) -> str:
    """Push the oldest pending row nobody else holds: "pushed", "none" or "failed"."""
    from redis.exceptions import RedisError

    from backoffice.db import write_intent
    from backoffice.models import JobOutbox

    query = select(JobOutbox.id, JobOutbox.job_name, JobOutbox.args).where(
        JobOutbox.enqueued_at.is_(None)).order_by(JobOutbox.id).limit(1) \
        .with_for_update(skip_locked=True)
    if only_id is not None:
        query = query.where(JobOutbox.id == only_id)
    token = write_intent.set(True)
    try:
        with engine.connect() as conn, _begin_or_busy(conn) as began:
            if not began:
                return "none"  # SQLite: another pusher holds the write lock; it goes on
            row = conn.execute(query).first()
            if row is None:
                return "none"
            try:
                _push_to_rq(row.job_name, tuple(row.args), job_id=f"outbox-{row.id}")
            except RedisError as exc:
                log.warning("Redis unavailable, job %s kept in the outbox (%s)", row.id, exc)
                conn.execute(update(JobOutbox).where(JobOutbox.id == row.id).values(
                    attempts=JobOutbox.attempts + 1, last_error=str(exc)[:2000]))
                return "failed"
            conn.execute(update(JobOutbox).where(JobOutbox.id == row.id).values(
                enqueued_at=utcnow(), attempts=JobOutbox.attempts + 1, last_error=None))
            return "pushed"
    finally:
        write_intent.reset(token)


@contextmanager
def _begin_or_busy(conn: Any) -> Iterator[bool]:
    """A transaction on `conn` (committed at the end, rolled back on error); False
    instead when SQLite's write lock stayed taken for its whole busy timeout."""
    from sqlalchemy.exc import OperationalError

    try:
        transaction = conn.begin()
    except OperationalError as exc:
        if conn.dialect.name == "sqlite" and "locked" in str(exc):
            yield False
            return
        raise
    with transaction:
        yield True


def purge_outbox(older_than: timedelta = timedelta(days=7)) -> int:
    """Forget the jobs sent more than `older_than` ago (the outbox is not an archive: RQ
    and the audit trail keep what happened); returns how many rows went."""
    from sqlalchemy import delete

    from backoffice.models import JobOutbox

    with current_app.extensions["db_engine"].begin() as conn:
        result = conn.execute(delete(JobOutbox).where(
            JobOutbox.enqueued_at.is_not(None), JobOutbox.enqueued_at < utcnow() - older_than))
    return result.rowcount or 0


def resolve(job_name: str) -> Callable[..., Any]:
    """'audit.verify_chain' -> jobs.audit.verify_chain"""
    module_name, _, func_name = job_name.rpartition(".")
    if not module_name or not func_name:
        raise ValueError(f"job name must be 'module.function', got {job_name!r}")
    module = importlib.import_module(f"jobs.{module_name}")
    return getattr(module, func_name)


def all_queues() -> list[str]:
    """Every queue, one per module of the jobs package (for `make worker`)."""
    import pkgutil

    import jobs

    return sorted(m.name for m in pkgutil.iter_modules(jobs.__path__)
                  if not m.name.startswith("_"))  # _settings and the like hold no job


def queue_name(job_name: str) -> str:
    """Queues are named by purpose: the job's module."""
    return job_name.rpartition(".")[0]


def redis_connection(url: str | None = None):
    from redis import Redis

    # short timeouts: with Redis down a request answers at once instead of hanging
    return Redis.from_url(url or current_app.config["REDIS_URL"], socket_connect_timeout=2,
                          socket_timeout=10)


@dataclass(frozen=True)
class JobFailure:
    job_name: str
    ids: tuple[Any, ...]
    error: str

    def __str__(self) -> str:
        args = ", ".join(map(str, self.ids))
        return f"{self.job_name}({args}) : {self.error}"


_failures: ContextVar[list[JobFailure] | None] = ContextVar("job_failures", default=None)


@contextmanager
def collect_failures() -> Iterator[list[JobFailure]]:
    """Within this block, a job that fails in-process (embedded mode), or that cannot be
    queued (Redis down), is listed here instead of being logged and flashed only: a CLI
    command then says which failed and exits non-zero (`exit_on_failures`)."""
    failures: list[JobFailure] = []
    token = _failures.set(failures)
    try:
        yield failures
    finally:
        _failures.reset(token)


def exit_on_failures(failures: list[JobFailure]) -> None:
    """For CLI commands: list the failed jobs and exit 1, if any failed."""
    import click

    if not failures:
        return
    click.echo(f"{len(failures)} tâche(s) en échec :", err=True)
    for failure in failures:
        click.echo(f"  {failure}", err=True)
    raise SystemExit(1)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def enqueue(job_name: str, *ids: int | str) -> Any:
    """Queue a job with ids only (never objects); return the RQ job or the result."""
    func = resolve(job_name)
    if current_app.config.get("REDIS_URL"):
        collected = _failures.get()
        if collected is None:
            return _push_to_rq(job_name, ids)
        from redis.exceptions import RedisError

        try:
            return _push_to_rq(job_name, ids)
        except RedisError as error:
            collected.append(JobFailure(job_name, ids, _describe(error)))
            return None
    return _run_in_process(job_name, func, ids)


def _push_to_rq(job_name: str, ids: tuple[Any, ...], job_id: str | None = None) -> Any:
    from rq import Queue, Retry

    func = resolve(job_name)
    queue = Queue(queue_name(job_name), connection=redis_connection())
    retries = getattr(func, "retries", 3)
    retry = Retry(max=retries, interval=[10, 60, 300][:retries]) if retries else None
    return queue.enqueue(f"jobs.{job_name}", *ids, retry=retry, job_id=job_id,
                         job_timeout=getattr(func, "timeout", None))


def _run_in_process(job_name: str, func: Callable[..., Any], ids: tuple[Any, ...]) -> Any:
    from backoffice.db import write_intent

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    token = write_intent.set(True)  # a job writes: SQLite's lock taken at BEGIN, waited for
    try:
        with app.app_context():
            return func(*ids)
    except Exception as error:
        log.exception("in-process job %s%r failed", job_name, ids)
        collected = _failures.get()
        if collected is not None:  # a CLI command reports it (collect_failures)
            collected.append(JobFailure(job_name, ids, _describe(error)))
            return None
        if app.config.get("JOBS_RAISE"):
            raise
        if has_request_context():
            flash(
                "Une tâche de fond a échoué ; l'équipe technique en a été informée "
                f"(tâche {job_name}).",
                "error",
            )
        return None
    finally:
        write_intent.reset(token)


def init_app(app: Any) -> None:
    import click
    from flask.cli import with_appcontext

    @click.command("pousser-taches")
    @with_appcontext
    def push_command() -> None:
        """Send to Redis the jobs kept in the outbox while it was unreachable (cron)."""
        from sqlalchemy import func

        from backoffice.models import JobOutbox

        if not current_app.config.get("REDIS_URL"):
            click.echo("Mode embarqué (REDIS_URL non défini) : les tâches s'exécutent sur place.")
            return
        pushed = push_outbox()
        purge_outbox()
        left = db.scalar(select(func.count()).select_from(JobOutbox)
                         .where(JobOutbox.enqueued_at.is_(None)))
        click.echo(f"{pushed} tâche(s) envoyée(s) ; {left} en attente.")
        if left:
            raise SystemExit(1)

    @click.command("taches-periodiques")
    @with_appcontext
    def periodic_command() -> None:
        """List the periodic jobs the workers run, their period and their last run."""
        import json
        from datetime import UTC, datetime

        from jobs import periodiques

        if not current_app.config.get("REDIS_URL"):
            click.echo("Mode embarqué (REDIS_URL non défini) : aucune tâche périodique ; "
                       "les commandes manuelles restent (send-mails, reprendre-emissions…).")
            return
        periods = periodiques.periods()
        connection = redis_connection()
        for periodique in periodiques.PERIODIQUES:
            every = periods.get(periodique.name)
            line = f"{periodique.name:<22} " + (f"toutes les {every} s" if every
                                                  else "désactivée")
            runs = periodiques.history(connection, periodique.name)
            if runs:
                last = runs[0]
                at = datetime.fromtimestamp(last["debut"], UTC).isoformat(timespec="seconds")
                outcome = (f"erreur : {last['erreur']}" if "erreur" in last
                           else f"résultat : {json.dumps(last.get('resultat'))}")
                line += f" — dernière exécution {at} par {last['par']}, {outcome}"
            else:
                line += " — jamais exécutée"
            click.echo(line)

    app.cli.add_command(push_command)
    app.cli.add_command(periodic_command)
