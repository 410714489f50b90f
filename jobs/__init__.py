"""RQ jobs. Each takes ids, re-reads the database, does nothing when the work is
already done, and is safe to run twice. Queues are named after the module."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import has_app_context

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)
_app = None


def use_app(app: Any) -> None:
    """The application every job of this process runs in (`backoffice.worker` builds it
    once at start-up)."""
    global _app
    _app = app


def _unit_of_work(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A job's unit of work (backoffice/unitofwork.py): what it leaves pending is
    committed once when it returns, rolled back when it raises. A job that must commit in
    steps says so with `checkpoint(why)`, never with a bare commit."""
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


def checkpoint(why: str) -> None:
    """Commit the job's work so far and go on in a new transaction: the one way a job
    commits before its unit of work ends. `why` says what cannot wait for the end:

    - a lock or a transaction that must not be held across slow outside work (Yousign,
      clamd, the SMTP relay, signing) or across in-process jobs queued next (SQLite's
      single write lock);
    - what others must see while the job goes on (a claim, a lease, an export's progress);
    - what must survive an error raised next (a failure recorded before RQ retries: the
      unit of work rolls back what is pending when the job raises).

    Written to the debug log with the job's reason; what the job leaves after its last
    checkpoint is committed (or rolled back) by the unit of work as usual."""
    from backoffice.db import db

    log.debug("job checkpoint: %s", why)
    db.commit()  # the job's unit of work, committed in steps: `why` says why


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
