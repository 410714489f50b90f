"""Background work plumbing: `after_commit` and `enqueue`.

A transition calls `after_commit(enqueue, "notifications.notifier", candidature.id)`.
When the request's transaction commits, the job is put on its RQ queue (REDIS_URL set)
or, in embedded mode, run right away in-process in a fresh application context (so it
gets its own session). Failed in-process jobs are logged and flashed, never swallowed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, flash, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from backoffice.db import db

log = logging.getLogger(__name__)

_PENDING = "backoffice_after_commit"


def after_commit(fn: Callable[..., Any], *args: Any, session: Session | None = None) -> None:
    """Run fn(*args) once the current transaction has committed; drop it on rollback."""
    session = session or db()
    session.info.setdefault(_PENDING, []).append((fn, args))


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for fn, args in pending:
        fn(*args)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


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

    return sorted(m.name for m in pkgutil.iter_modules(jobs.__path__))


def queue_name(job_name: str) -> str:
    """Queues are named by purpose: the job's module."""
    return job_name.rpartition(".")[0]


def redis_connection(url: str | None = None):  # noqa: ANN201 - redis.Redis
    from redis import Redis

    return Redis.from_url(url or current_app.config["REDIS_URL"])


def enqueue(job_name: str, *ids: int | str) -> Any:
    """Queue a job with ids only (never objects); return the RQ job or the result."""
    func = resolve(job_name)
    if current_app.config.get("REDIS_URL"):
        from rq import Queue, Retry

        queue = Queue(queue_name(job_name), connection=redis_connection())
        retries = getattr(func, "retries", 3)
        retry = Retry(max=retries, interval=[10, 60, 300][:retries]) if retries else None
        return queue.enqueue(f"jobs.{job_name}", *ids, retry=retry)
    return _run_in_process(job_name, func, ids)


def _run_in_process(job_name: str, func: Callable[..., Any], ids: tuple[Any, ...]) -> Any:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        with app.app_context():
            return func(*ids)
    except Exception:
        log.exception("in-process job %s%r failed", job_name, ids)
        if app.config.get("JOBS_RAISE"):
            raise
        if has_request_context():
            flash(
                "Une tâche de fond a échoué ; l'équipe technique en a été informée "
                f"(tâche {job_name}).",
                "error",
            )
        return None
