"""Engine, declarative base and the scoped session.

Plain SQLAlchemy 2.x rather than Flask-SQLAlchemy: the tests bind the session to an
outer transaction (join_transaction_mode="create_savepoint"), which needs control over
how sessions are made. A session lives as long as the application context that made it,
so a job run in-process in its own context gets its own session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app
from flask.globals import _cv_app, _cv_request
from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session
from sqlalchemy.types import JSON, TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite keeps no
    offset). Naive values are refused: a naive time is a bug waiting for DST."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        list[Any]: JSON(),
    }


# The demo seed replays months of instruction in a second: it sets a simulated clock.
_clock: ContextVar[Callable[[], datetime] | None] = ContextVar("clock", default=None)


def utcnow() -> datetime:
    override = _clock.get()
    return override() if override is not None else datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to, never past the real time."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current = min(self.current + timedelta(**delta), datetime.now(UTC))


@contextmanager
def simulated_clock(start: datetime) -> Iterator[SimulatedClock]:
    clock = SimulatedClock(start)
    token = _clock.set(clock)
    try:
        yield clock
    finally:
        _clock.reset(token)


# Set for requests whose method may write (POST, PUT, PATCH, DELETE).
write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)


def _scope() -> tuple[int, int | None]:
    """One session per (application context, request context): a job run in-process in
    its own application context gets its own session, and so does each request even
    when a test holds an application context around it."""
    app_ctx = _cv_app.get(None)
    if app_ctx is None:
        raise RuntimeError("the database session needs an application context")
    req_ctx = _cv_request.get(None)
    return id(app_ctx), id(req_ctx) if req_ctx is not None else None


def _make_session() -> Session:
    return Session(**current_app.extensions["db_session_options"])


# any callable returning a Session is a factory (documented); the stubs name sessionmaker
db: scoped_session[Session] = scoped_session(_make_session, scopefunc=_scope)  # type: ignore[arg-type]


# How long an embedded-mode writer waits for SQLite's write lock (a job signing a
# certificate holds it for a second or two) before giving up with « database is locked ».
SQLITE_BUSY_TIMEOUT_MS = 15_000


def _sqlite_pragmas(engine: Engine) -> None:
    """SQLAlchemy's documented pysqlite recipe: let SQLAlchemy emit BEGIN itself so that
    SAVEPOINTs work, and turn foreign keys on. A database file is put in WAL mode (issue
    18): a page reads while a job writes, and a writer waits for the lock (busy timeout);
    with the default rollback journal a reader blocked a job's commit and a page whose
    read turned into a write failed at once with « database is locked »."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")  # persistent: recorded in the file
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough in WAL, faster
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A request that may write takes SQLite's write lock at BEGIN: a concurrent writer
        # then waits (busy_timeout) and sees the committed state, instead of failing on
        # the read-to-write upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


def commit_record(write: Callable[[], Any]) -> Any:
    """Record something a GET writes on purpose: a last-seen marker (`commit_marker`), the
    audit row of a sensitive read (a vendor's file opened, an export downloaded). The
    page's reads end, `write()` runs in a short transaction of its own that takes the write
    lock at BEGIN (SQLite: BEGIN IMMEDIATE, waiting for a job's lock instead of failing on
    a read-to-write upgrade whose snapshot a job's commit made stale), committed at once:
    what it records is kept whatever the rest of the page does, and no lock (PostgreSQL:
    the audit chain's) is held while the page goes on. What the page loaded stays loaded.

    In a request that may write (POST…) or a job, `write()` just joins their unit of work,
    which commits it with the rest."""
    if write_intent.get():
        return write()
    session = db()
    session.expire_on_commit = False
    token = write_intent.set(True)
    try:
        session.commit()  # the reads so far: nothing written, nothing to keep
        result = write()
        session.commit()  # a GET's only commit: what it records on purpose
        return result
    finally:
        write_intent.reset(token)
        session.expire_on_commit = True


def commit_marker(statement: Any) -> None:
    """A last-seen marker written from a GET (`commit_record`)."""
    commit_record(lambda: db.execute(statement))


def _end_read_only_transaction() -> None:
    """End a request's transaction that wrote nothing with COMMIT rather than ROLLBACK
    (the same, for a transaction without writes): psycopg forgets every prepared
    statement of the connection at a ROLLBACK, and with them the plans PostgreSQL keeps
    for the statements a page runs again and again (docs/benchmarks.md: the queue page's
    planning, 3-5 ms at each request). Anything pending, or any statement other than a
    SELECT sent in the transaction (_track_writes), and it is rolled back as before."""
    session = db.registry()
    transaction = session.get_transaction()
    if (transaction is None or not transaction.is_active  # none, or failed: rolled back
            or session.new or session.dirty or session.deleted
            or session.get_bind().dialect.name != "postgresql"):
        return
    if not session.connection().info.get(WROTE, True):
        # nothing to expire: the session is closed next, and what it loaded stays
        # readable (a streamed response reads it after this teardown, as after a close)
        session.expire_on_commit = False
        session.commit()  # a read-only transaction's end, the same as a ROLLBACK


WROTE = "backoffice_wrote"  # in Connection.info: a statement other than SELECT was sent


def _track_writes(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.info[WROTE] = False

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not conn.info.get(WROTE) and statement.lstrip()[:6].upper() != "SELECT":
            conn.info[WROTE] = True  # INSERT, UPDATE, DELETE, WITH…, SAVEPOINT: not read-only


def make_engine(url: str) -> Engine:
    # hide_parameters: a statement's parameters never appear in a log or an error message
    # (they may hold personal data, a token's hash, a second-factor counter)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False},
                               hide_parameters=True)
        _sqlite_pragmas(engine)
        return engine
    # JIT compilation pays off for long analytical queries, never for a page's: on a
    # 1M-row database it added ~50 ms to queries the planner over-estimated
    # (docs/benchmarks.md); statements are bounded by a timeout so that no page hangs, and
    # so is connecting (an unreachable server fails a request, or a probe, in 10 s).
    # Custom plans always: psycopg prepares a statement run five times on a connection, and
    # PostgreSQL then moves to a generic plan, blind to the values. The queues' statements
    # depend on them (a campaign of one candidature or of 77,000, a rare or a frequent
    # term): at 1M candidatures « Tous » filtered by a rare campaign went from 13 ms to
    # 530-600 ms from its eleventh request on a connection (docs/benchmarks/queues-1m.md).
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args={
        "options": "-c jit=off -c statement_timeout=30000 -c plan_cache_mode=force_custom_plan",
        "connect_timeout": 10})
    _track_writes(engine)
    return engine


# The maintenance statements (the nightly recount, `flask recompter-files`, the
# generator's) read every candidature: at 1M, filling an empty follow table took longer
# than a page's 30 s bound and the recount failed with it.
MAINTENANCE_STATEMENT_TIMEOUT = "30min"


def maintenance_timeout(session: Session | scoped_session[Session]) -> None:
    """Bound the rest of this transaction's statements by the maintenance timeout instead
    of a page's (PostgreSQL; SQLite has none)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text(
            f"SET LOCAL statement_timeout = '{MAINTENANCE_STATEMENT_TIMEOUT}'"))


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    app.extensions["db_engine"] = engine
    app.extensions["db_session_options"] = {"bind": engine}

    def _remove_session(exc: BaseException | None) -> None:
        if exc is None:
            _end_read_only_transaction()
        db.remove()

    app.teardown_request(_remove_session)
    app.teardown_appcontext(_remove_session)

    @app.before_request
    def _declare_write_intent() -> None:
        from flask import g, request

        g.write_intent_token = write_intent.set(request.method not in ("GET", "HEAD", "OPTIONS"))

    @app.teardown_request
    def _forget_write_intent(_exc: BaseException | None) -> None:
        from flask import g

        token = g.pop("write_intent_token", None)
        if token is not None:
            write_intent.reset(token)
