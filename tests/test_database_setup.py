"""`make db` (flask --app backoffice init-db) as one step: it creates a missing PostgreSQL
database or says in one French line how to, migrates under an advisory lock (two hosts
deploying at once: one migrates, the other waits and finds nothing to do), and
`migrate.schema_problem` tells whether a database is at the migrations' head."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from backoffice.db import make_engine
from backoffice.migrate import (
    DatabaseUnavailable,
    ensure_database,
    heads,
    schema_problem,
    upgrade,
)
from config import normalise_database_url
from tests.conftest import BACKENDS, TEST_DATABASE_URL, fresh_database_url, missing_tier
from tests.test_production_setup import drop_database, empty_database_url

ROOT = Path(__file__).resolve().parents[1]


def init_db(url: str, tmp: Path, **extra_env: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url, "INSTANCE_DIR": str(tmp / "instance"),
           **extra_env}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "backoffice", "init-db"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def postgres_server() -> str:
    if not TEST_DATABASE_URL:
        missing_tier("TEST_DATABASE_URL is not set (PostgreSQL tier)")
    return TEST_DATABASE_URL


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_init_db_at_once_one_creates_and_migrates_the_other_waits(backend, tmp_path) -> None:
    """PostgreSQL: the advisory lock; SQLite: BEGIN IMMEDIATE with a long busy timeout."""
    name = f"backoffice_test_parallel_{os.getpid()}"
    url = empty_database_url(backend, tmp_path, name)
    try:
        runs = [init_db(url, tmp_path / str(i)) for i in range(2)]
        results = [finish(p) for p in runs]
        for code, out, err in results:
            assert code == 0, (out, err)
            assert "Traceback" not in err
        outputs = [out for _code, out, _err in results]
        assert sum("Schéma : créé (révision" in out for out in outputs) == 1, outputs
        assert sum("déjà à jour (révision" in out for out in outputs) == 1, outputs
        assert sum("créée" in out for out in outputs) <= 1  # the other found it made
        assert sum("Données de référence : créé(s)" in out for out in outputs) == 1, outputs
        assert sum("Données de référence : déjà à jour." in out for out in outputs) == 1
        engine = make_engine(normalise_database_url(url))
        try:
            assert schema_problem(engine) is None
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT count(*) FROM demarche")) == 5
                assert conn.scalar(text("SELECT count(*) FROM referentiel")) == 2
        finally:
            engine.dispose()
    finally:
        if backend == "postgresql":
            drop_database(TEST_DATABASE_URL, name)


def test_an_unreachable_server_is_one_french_line(tmp_path) -> None:
    code, out, err = finish(init_db("postgresql://backoffice@127.0.0.1:9/backoffice", tmp_path))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Base de données injoignable (postgresql+psycopg://backoffice@"
                               "127.0.0.1:9/backoffice)")
    assert "Vérifiez DATABASE_URL" in lines[0] and "Traceback" not in err


@pytest.mark.postgresql
def test_a_database_the_role_may_not_create_is_explained(tmp_path) -> None:
    server = create_engine(normalise_database_url(postgres_server()),
                           isolation_level="AUTOCOMMIT")
    role = f"backoffice_nocreate_{os.getpid()}"
    try:
        with server.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOCREATEDB'))
        url = server.url.set(username=role, password=None,
                             database=f"absente_{os.getpid()}").render_as_string(
                                 hide_password=False)
        code, out, err = finish(init_db(url, tmp_path))
        assert code == 1 and "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert f"La base « absente_{os.getpid()} » n'existe pas" in lines[0]
        assert f"createdb -O {role} absente_{os.getpid()}" in lines[0]
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        server.dispose()


@pytest.mark.postgresql
def test_a_url_without_a_database_name_is_explained() -> None:
    """The driver then opens the role's own database: when there is none, the database
    cannot be created without a name, and init-db says so (it used to fail on the name)."""
    server = create_engine(normalise_database_url(postgres_server()),
                           isolation_level="AUTOCOMMIT")
    role = f"backoffice_nodb_{os.getpid()}"
    try:
        with server.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOCREATEDB'))
        # URL.set() keeps the database when given None
        host, port = server.url.host, server.url.port or 5432
        engine = make_engine(f"postgresql+psycopg://{role}@{host}:{port}")
        try:
            with pytest.raises(DatabaseUnavailable) as raised:
                ensure_database(engine)
        finally:
            engine.dispose()
        assert "DATABASE_URL ne nomme aucune base de données" in str(raised.value)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        server.dispose()


def existing_empty_database(backend: str, tmp: Path, name: str) -> str:
    url = empty_database_url(backend, tmp, name)
    if backend == "postgresql":
        server = create_engine(normalise_database_url(postgres_server()),
                               isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        server.dispose()
    return url


@pytest.mark.parametrize("backend", BACKENDS)
def test_schema_problem_says_whether_the_database_is_at_head(backend, tmp_path) -> None:
    name = f"backoffice_test_empty_{os.getpid()}"
    engine = make_engine(normalise_database_url(existing_empty_database(backend, tmp_path, name)))
    try:
        assert "n'est pas initialisée" in schema_problem(engine)
        with engine.begin() as conn:
            upgrade(conn, "0012")
        behind = schema_problem(engine)
        assert "n'est pas à jour (révision 0012" in behind and "make db" in behind
        with engine.begin() as conn:
            upgrade(conn)
        assert schema_problem(engine) is None
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        assert "inconnue de cette version" in schema_problem(engine)
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_database(TEST_DATABASE_URL, name)


def test_schema_problem_of_an_unreachable_database_is_a_line_too() -> None:
    down = make_engine("postgresql+psycopg://backoffice@127.0.0.1:9/backoffice")
    problem = schema_problem(down)
    assert problem.startswith("Base de données injoignable") and "\n" not in problem
    assert len(heads()) == 1  # one head: the parallel branches were chained


def test_the_test_databases_are_at_head(tmp_path) -> None:
    engine = make_engine(fresh_database_url("sqlite", tmp_path, "head"))
    try:
        assert schema_problem(engine) is None
    finally:
        engine.dispose()


def test_a_database_created_by_another_host_meanwhile_is_used_not_refused() -> None:
    """Two init-db at once: the second's first connection fails (« does not exist »), the
    first creates the database, then the second finds it in pg_database: created
    meanwhile, it goes on (it used to stop, taking the first error for a password one)."""
    from backoffice.migrate import ensure_database

    server = postgres_server()
    name = f"backoffice_test_meanwhile_{os.getpid()}"
    drop_database(server, name)
    engine = create_engine(normalise_database_url(server.rsplit("/", 1)[0] + f"/{name}"))
    maintenance = create_engine(normalise_database_url(server), isolation_level="AUTOCOMMIT")
    original_connect = engine.connect
    calls: list[int] = []

    def connect_then_the_other_host_creates():
        calls.append(1)
        try:
            return original_connect()
        finally:
            if len(calls) == 1:  # the other host's CREATE DATABASE lands right after
                with maintenance.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))

    engine.connect = connect_then_the_other_host_creates  # type: ignore[method-assign]
    try:
        assert ensure_database(engine) is False
        assert len(calls) == 1
        with original_connect() as connection:
            assert connection.scalar(text("SELECT current_database()")) == name
    finally:
        engine.dispose()
        maintenance.dispose()
        drop_database(server, name)
