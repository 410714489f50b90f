"""Test tiers and fixtures.

- SQLite always. PostgreSQL when TEST_DATABASE_URL is set: every database test then runs
  on both (the `engine` fixture is parametrised). Real Redis + `rq worker` when
  TEST_REDIS_URL is set. Browser tests drive Debian's /usr/bin/chromium.
- REQUIRE_TIERS=1 (set by .ci/run) turns a missing tier into a failure, never a skip.
- The schema is built once per engine from the Alembic migrations, and the reference data
  loaded once by the loader `init-db` runs (backoffice/reference), with a campaign window
  open per démarche; each test runs in an outer transaction rolled back at the end
  (sessions join it through SAVEPOINTs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Connection, Engine

from backoffice import create_app
from backoffice.db import db, make_engine
from backoffice.migrate import upgrade
from config import normalise_database_url

REQUIRE_TIERS = os.environ.get("REQUIRE_TIERS", "") in {"1", "true", "yes"}
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


REDIS_DATABASES = 16  # redis.conf's default `databases`


def _redis_url_of_this_worker() -> str | None:
    """pytest-xdist: each worker its own Redis database (the base number minus the worker's
    index, wrapping around Redis's 16 default databases: CI's base is 15), since tests
    flush theirs; databases are per process already (os.getpid()) and
    live servers bind port 0. Written back to the environment before the test modules and
    the worker subprocesses read it."""
    url = os.environ.get("TEST_REDIS_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, …
    if not url or not worker.startswith("gw"):
        return url
    base, _, number = url.rpartition("/")
    index = int(worker[2:])
    url = (f"{base}/{(int(number) - index) % REDIS_DATABASES}" if number.isdigit()
           else f"{url}/{index % REDIS_DATABASES}")
    os.environ["TEST_REDIS_URL"] = url
    return url


TEST_REDIS_URL = _redis_url_of_this_worker()
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def missing_tier(reason: str) -> None:
    """Skip locally; fail in CI, where every tier must run."""
    if REQUIRE_TIERS:
        pytest.fail(f"tier required but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        "tiers: sqlite"
        + (f", postgresql ({TEST_DATABASE_URL})" if TEST_DATABASE_URL else "")
        + (f", redis ({TEST_REDIS_URL})" if TEST_REDIS_URL else "")
        + f", browser ({CHROMIUM})"
        + (" — all required" if REQUIRE_TIERS else "")
    ]


# `slow` (make test-fast leaves them out): browsers, subprocesses (gunicorn, nginx, the job
# worker, the CLI, ClamAV), packaging and the benchmark smoke; by directory, module or
# marker here rather than by hand on each test.
SLOW_DIRECTORIES = ("tests/e2e/", "tests/deploy/")
SLOW_MODULES = {
    "tests/test_packaging.py", "tests/test_bench_smoke.py", "tests/test_two_hosts.py",
    "tests/test_issuance_crash.py", "tests/test_redis_down.py", "tests/test_periodic_jobs.py",
    "tests/test_database_setup.py", "tests/test_cli_jobs.py", "tests/test_production_setup.py",
    "tests/test_instance_secrets.py",
}
SLOW_MARKERS = {"browser", "clamav"}
SLOW_TESTS = {  # a subprocess in a module of otherwise quick tests
    "tests/test_cli.py::test_flask_command_line_works_in_a_subprocess",
    "tests/test_jobs.py::test_the_worker_runs_a_retry_when_it_is_due",
    "tests/workflow/test_certificates.py::test_pdfsig_validates_the_signature_independently",
    "tests/workflow/test_college_file.py::test_a_preuve_opens_in_the_safe_preview",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        path = Path(str(item.path)).relative_to(root).as_posix()
        name = f"{path}::{item.originalname}" if isinstance(item, pytest.Function) else ""
        if (path.startswith(SLOW_DIRECTORIES) or path in SLOW_MODULES or name in SLOW_TESTS
                or SLOW_MARKERS & {m.name for m in item.iter_markers()}):
            item.add_marker(pytest.mark.slow)


BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL or REQUIRE_TIERS else [])


_SIGNING: dict[str, str] = {}


def signing_material() -> dict[str, str]:
    """One demo CA and signing certificate for the whole run."""
    if not _SIGNING:
        import tempfile

        from backoffice.signing import generate_demo_material

        _SIGNING.update(generate_demo_material(Path(tempfile.mkdtemp(prefix="signing-"))))
    return _SIGNING


def base_config(tmp: Path, url: str) -> dict[str, object]:
    return {
        **signing_material(),
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret-key-not-used-anywhere-else",
        "INSTANCE_DIR": str(tmp),
        "STORAGE_DIR": str(tmp / "storage"),
        "MAIL_OUTBOX_DIR": str(tmp / "mails"),
        "REDIS_URL": None,
        "PASSWORD_HASH_FAST": True,
        "JOBS_RAISE": True,
        "SESSION_COOKIE_SECURE": False,
        # each test starts from an empty database: counts kept from a previous test would
        # lie (tests/reviewer/test_overview_cache.py turns it on)
        "QUEUE_CACHE_SECONDS": 0,
    }


def reset_postgres_database(url: str, name: str, template: str | None = None) -> str:
    """(Re)create database `name` on the server of `url` (a copy of `template`); return
    its URL."""
    url = normalise_database_url(url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            copy = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _postgres_url(suffix: str, template: str | None = None) -> str:
    if not TEST_DATABASE_URL:
        missing_tier("TEST_DATABASE_URL is not set (PostgreSQL tier)")
    try:
        return reset_postgres_database(TEST_DATABASE_URL, f"backoffice_test_{suffix}",
                                       template)
    except Exception as exc:
        missing_tier(f"PostgreSQL unreachable at {TEST_DATABASE_URL}: {exc}")
        raise


def load_reference(engine: Engine, *, windows: bool = False) -> None:
    """What `init-db` loads after the migrations (démarches, delays, pièces, message
    templates, référentiels); `windows`: a campaign window open per démarche as well."""
    from backoffice import reference
    from backoffice.seed import open_windows

    loader = Flask("reference-loader")  # the session only needs an app context and a bind
    loader.extensions["db_session_options"] = {"bind": engine}
    with loader.app_context():
        reference.load()
        if windows:
            open_windows()
        db.commit()
        db.remove()


def _build_database(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        upgrade(connection)
    load_reference(engine)
    engine.dispose()


# (backend, reference data folder) -> the database built from the migrations once in this
# process, that each fresh database copies (a SQLite file; a PostgreSQL database name)
_TEMPLATES: dict[tuple[str, str], str] = {}


def _template(backend: str) -> str:
    from backoffice import reference

    key = (backend, str(reference.DATA_DIR))  # a test may point the loader elsewhere
    if key not in _TEMPLATES:
        if backend == "sqlite":
            import tempfile

            path = Path(tempfile.mkdtemp(prefix="db-template-")) / "template.sqlite3"
            _build_database(f"sqlite:///{path}")
            _TEMPLATES[key] = str(path)
        else:
            name = f"backoffice_test_template{len(_TEMPLATES)}_{os.getpid()}"
            _build_database(_postgres_url(name.removeprefix("backoffice_test_")))
            _TEMPLATES[key] = name
    return _TEMPLATES[key]


def fresh_database_url(backend: str, tmp: Path, suffix: str) -> str:
    """A new database of that backend, migrated to head, with the reference data: a copy
    of the one built from the migrations once per process (SQLite: the file copied;
    PostgreSQL: CREATE DATABASE … TEMPLATE), instead of migrating each one again (about
    1.5 s a database idle)."""
    template = _template(backend)
    if backend == "sqlite":
        import shutil

        target = tmp / f"{suffix}.sqlite3"
        for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    return _postgres_url(f"{suffix}_{os.getpid()}", template=template)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    tmp = tmp_path_factory.mktemp(f"db-{backend}")
    url = fresh_database_url(backend, tmp, "main")
    engine = make_engine(url)
    load_reference(engine, windows=True)  # every test may open a candidature
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app(engine: Engine, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("app")
    app = create_app(base_config(tmp, engine.url.render_as_string(hide_password=False)))
    app.extensions["db_engine"].dispose()
    app.extensions["db_engine"] = engine
    return app


@pytest.fixture
def connection(app, engine: Engine) -> Iterator[Connection]:
    """The test's outer transaction; every session of the test joins it."""
    conn = engine.connect()
    outer = conn.begin()
    saved = app.extensions["db_session_options"]
    app.extensions["db_session_options"] = {
        "bind": conn,
        "join_transaction_mode": "create_savepoint",
    }
    try:
        yield conn
    finally:
        app.extensions["db_session_options"] = saved
        outer.rollback()
        conn.close()


@pytest.fixture
def ctx(app, connection):
    """An application context and its session, for setting up and asserting."""
    with app.app_context():
        # begin the session's transaction, as a request's first query does (a job queued
        # with after_commit before any query would otherwise outlive a rollback: tasks.py)
        db.connection()
        yield db
        db.remove()


class IsolatedClient(FlaskClient):
    """Each request runs in its own application context, as in production, even while
    the test holds one (otherwise `g`, and Flask-Login's cached user with it, would be
    shared between the test and every request)."""

    def open(self, *args, **kwargs):
        token = _cv_app.set(None)
        kwargs.setdefault("buffered", True)  # a streamed body is read in the same context
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


class QueryRecorder:
    """Warehouse's `query_recorder`: the SQL statements run inside `with recorder:` (the
    transaction's own SAVEPOINT/RELEASE/ROLLBACK left out), for query budgets."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def _before(self, conn, cursor, statement, *args) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            self.queries.append(statement)

    def __enter__(self) -> QueryRecorder:
        from sqlalchemy import event

        self.queries = []
        event.listen(db.get_bind().engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(db.get_bind().engine, "before_cursor_execute", self._before)

    @property
    def count(self) -> int:
        return len(self.queries)


@pytest.fixture
def query_recorder(ctx) -> QueryRecorder:
    return QueryRecorder()


@pytest.fixture
def client(app, ctx):
    app.test_client_class = IsolatedClient
    app.extensions["login_throttle"].forget_local_counts()  # each test starts unthrottled
    return app.test_client()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say how many tests passed on each tier, so that a CI log shows they all ran."""
    passed = terminalreporter.stats.get("passed", [])
    counts = {
        "postgresql": sum("[postgresql" in r.nodeid for r in passed),
        "redis": sum("redis" in r.keywords for r in passed),
        "browser": sum("browser" in r.keywords for r in passed),
        "clamav": sum("clamav" in r.keywords for r in passed),
    }
    terminalreporter.write_line(
        "tiers passed: " + ", ".join(f"{tier} {n}" for tier, n in counts.items())
    )
