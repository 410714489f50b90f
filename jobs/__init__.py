"""RQ jobs. Each takes ids, re-reads the database, does nothing when the work is
already done, and is safe to run twice. Queues are named after the module."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import has_app_context

F = TypeVar("F", bound=Callable[..., Any])
_app = None


def use_app(app: Any) -> None:
    """The application every job of this process runs in (`backoffice.worker` builds it
    once at start-up)."""
    global _app
    _app = app


def _unit_of_work(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A job's unit of work (backoffice/unitofwork.py): what it leaves pending is
    committed when it returns, rolled back when it raises. A job may commit a step of
    its own before slow outside work (signing, clamd, SMTP), each such commit saying why."""
    from backoffice.db import db, write_intent

    # a job writes: on SQLite each of its transactions takes the write lock at BEGIN and
    # waits for it (busy timeout), instead of failing when a read turns into a write after
    # another process committed (two workers on one SQLite file; in-process jobs do the same)
    token = write_intent.set(True)
    try:
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            db.rollback()
            raise
        db.commit()  # the job's unit of work: its one commit, or its last
        return result
    finally:
        write_intent.reset(token)


def job(fn: F | None = None, *, retries: int = 3, timeout: int | None = None) -> Any:
    """Give the job an application context of its own, hence its own database session (the
    in-process runner already has one; a worker process builds the application once,
    `backoffice.worker`), its retry policy (`enqueue` reads `retries`) and, for a job that
    may outlast RQ's default 180 s, its time limit in seconds (`timeout`)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if has_app_context():
                return _unit_of_work(fn, args, kwargs)
            global _app
            if _app is None:
                from backoffice import create_app

                _app = create_app()
            with _app.app_context():
                return _unit_of_work(fn, args, kwargs)

        wrapper.retries = retries  # type: ignore[attr-defined]
        wrapper.timeout = timeout  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def last_attempt() -> bool:
    """True unless an RQ worker will retry the current job (in-process: no retry)."""
    try:
        from rq import get_current_job

        current = get_current_job()
    except Exception:
        current = None
    return current is None or not current.retries_left
