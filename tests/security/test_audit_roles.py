"""The application connects as a role that does not own the audit table (issue 15 item 2),
PostgreSQL only: SQLite has no roles.

A database of its own, owned by an owner role that runs the migrations and `flask
roles-bd`; the application's role then tries what the review did as the owner (disable the
trigger, delete, update, truncate…) and is refused by PostgreSQL's privileges, not only by
the trigger. Roles are cluster-wide: their names carry the process id and a random part, and
they are dropped at the end."""

from __future__ import annotations

import base64
import re
import secrets

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from backoffice import audit, create_app
from backoffice.db import db, make_engine
from backoffice.dbroles import audit_owner_problem, scram_verifier
from backoffice.migrate import upgrade
from config import normalise_database_url
from tests.conftest import TEST_DATABASE_URL, base_config, load_reference, missing_tier


def _server() -> str:
    if not TEST_DATABASE_URL:
        missing_tier("TEST_DATABASE_URL is not set (PostgreSQL tier)")
    return normalise_database_url(TEST_DATABASE_URL)


SUFFIXES = ("", "_cr", "_su", "_mb", "_pw", "_zz")  # the roles a test may create


class Roles:
    def __init__(self, server: str) -> None:
        tag = f"{secrets.token_hex(3)}"
        self.owner, self.app, self.database = f"bo_own_{tag}", f"bo_app_{tag}", f"bo_roles_{tag}"
        self.server = server
        self.superuser = create_engine(server, isolation_level="AUTOCOMMIT")

    def url(self, user: str | None = None) -> str:
        url = make_url(self.server).set(database=self.database)
        if user:
            url = url.set(username=user, password=None)
        return url.render_as_string(hide_password=False)

    def setup(self) -> None:
        with self.superuser.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{self.owner}" LOGIN CREATEROLE'))
            conn.execute(text(f'CREATE DATABASE "{self.database}" OWNER "{self.owner}"'))
        engine = make_engine(self.url(self.owner))  # the set-up runs as the owner
        with engine.begin() as connection:
            upgrade(connection)
        load_reference(engine)  # what `make db` loads after the migrations
        engine.dispose()

    def teardown(self) -> None:
        with self.superuser.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :d AND pid <> pg_backend_pid()"),
                         {"d": self.database})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}"'))
            for role in [self.app + suffix for suffix in SUFFIXES] + [self.owner]:
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        self.superuser.dispose()


@pytest.fixture(scope="module", params=["postgresql"])  # named so: the tier's count
def roles(tmp_path_factory):
    setup = Roles(_server())
    setup.setup()
    owner_app = make_app(setup.url(setup.owner), tmp_path_factory.mktemp("owner"))
    result = owner_app.test_cli_runner().invoke(args=["roles-bd", "--app-role", setup.app])
    assert result.exit_code == 0, result.output
    assert "créé" in result.output
    owner_app.extensions["db_engine"].dispose()
    yield setup
    setup.teardown()


def make_app(url: str, instance):
    return create_app({**base_config(instance, url), "AUDIT_HMAC_KEY": "k" * 48})


@pytest.fixture
def app_engine(roles):
    engine = make_engine(roles.url(roles.app))
    yield engine
    engine.dispose()


REFUSED = [
    ("UPDATE audit_event SET action = 'x'", "permission denied for table audit_event"),
    ("DELETE FROM audit_event", "permission denied for table audit_event"),
    ("TRUNCATE audit_event", "permission denied for table audit_event"),
    ("ALTER TABLE audit_event DISABLE TRIGGER USER", "must be owner of table audit_event"),
    ("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update",
     "must be owner of table audit_event"),
    ("DROP TRIGGER audit_event_no_update ON audit_event", "must be owner of"),
    ("ALTER TABLE audit_event OWNER TO CURRENT_USER", "must be owner of table audit_event"),
    ("DROP TABLE audit_event", "must be owner of table audit_event"),
    ("SET session_replication_role = replica", "permission denied"),  # skips triggers
    ("SELECT setval('audit_event_id_seq', 1)", "permission denied for sequence"),
    ("INSERT INTO alembic_version VALUES ('9999')", "permission denied for table"),
    ("UPDATE alembic_version SET version_num = '0001'", "permission denied for table"),
]


@pytest.mark.parametrize(("statement", "refusal"), REFUSED, ids=[s for s, _ in REFUSED])
def test_the_application_role_cannot_rewrite_the_audit_trail(roles, app_engine, statement,
                                                             refusal) -> None:
    with app_engine.connect() as conn:
        with pytest.raises(DBAPIError, match=re.escape(refusal)):
            conn.execute(text(statement))
        conn.rollback()


def test_the_application_role_cannot_become_the_owner(roles, app_engine) -> None:
    with app_engine.connect() as conn:
        with pytest.raises(DBAPIError, match="permission denied to set role"):
            conn.execute(text(f'SET ROLE "{roles.owner}"'))
        conn.rollback()
        with pytest.raises(DBAPIError, match="must have admin option on role"):
            conn.execute(text(f'GRANT "{roles.owner}" TO CURRENT_USER'))
        conn.rollback()


def test_the_owner_and_a_superuser_can_and_are_refused_at_start(roles, app_engine) -> None:
    """What the review did as the application: now only the owner can, and the start-up
    check names both."""
    assert audit_owner_problem(app_engine) is None
    owner = make_engine(roles.url(roles.owner))
    try:
        problem = audit_owner_problem(owner)
        assert problem and "propriétaire de la table audit_event" in problem
        with owner.connect() as conn:  # the owner can disable the trigger: hence two roles
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            conn.rollback()
    finally:
        owner.dispose()
    superuser = make_engine(roles.url())
    try:
        assert "superutilisateur" in audit_owner_problem(superuser)
    finally:
        superuser.dispose()


def test_a_createrole_application_role_is_refused_before_postgresql_16(roles) -> None:
    name = f"{roles.app}_cr"
    with roles.superuser.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{name}" LOGIN CREATEROLE'))
        version = conn.execute(text("SHOW server_version_num")).scalar_one()
    engine = make_engine(roles.url(name))
    try:
        problem = audit_owner_problem(engine)
        assert (problem is not None and "CREATEROLE" in problem) == (int(version) < 160000)
    finally:
        engine.dispose()


def test_the_whole_application_runs_as_its_role(roles, tmp_path) -> None:
    """Seeding drives every transition through the workflow: everything the application
    writes, it can write without owning anything; then the chain verifies and a checkpoint
    is written, as the application's role."""
    app = make_app(roles.url(roles.app), tmp_path)
    runner = app.test_cli_runner()
    try:
        seeded = runner.invoke(args=["seed-demo", "--candidatures", "6"])
        assert seeded.exit_code == 0, seeded.output
        created = runner.invoke(args=["create-user", "--email", "r@ans.test.fr", "--name", "R",
                                      "--role", "admin"])
        assert created.exit_code == 0, created.output
        verified = runner.invoke(args=["verify-audit"])
        # stdout: the checkpoint's log line goes to standard error
        assert verified.exit_code == 0 and verified.stdout.startswith("OK"), verified.output
        assert "Point de contrôle écrit" in verified.stdout
        with app.app_context():
            assert audit_owner_problem(app.extensions["db_engine"]) is None
            audit.record("test", "test.evenement", "base")
            db.commit()
            with pytest.raises(DBAPIError, match="permission denied"):
                db.execute(text("DELETE FROM audit_event"))
            db.rollback()
        again = runner.invoke(args=["verify-audit"])
        assert "1 événement(s) vérifié(s) depuis le point de contrôle" in again.output, again.output
    finally:
        app.extensions["db_engine"].dispose()


def test_roles_bd_is_idempotent_and_covers_the_tables_of_later_migrations(roles, app_engine,
                                                                          tmp_path) -> None:
    owner_app = make_app(roles.url(roles.owner), tmp_path)
    try:
        again = owner_app.test_cli_runner().invoke(args=["roles-bd", "--app-role", roles.app])
        assert again.exit_code == 0 and "existant" in again.output, again.output
        owner = owner_app.extensions["db_engine"]
        with owner.begin() as conn:  # a later migration, run by the owner
            conn.execute(text("CREATE TABLE later_table (id serial PRIMARY KEY, v text)"))
        with app_engine.begin() as conn:  # default privileges: usable at once
            conn.execute(text("INSERT INTO later_table (v) VALUES ('a')"))
            conn.execute(text("UPDATE later_table SET v = 'b'"))
            conn.execute(text("DELETE FROM later_table"))
        with app_engine.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied"):
                conn.execute(text("TRUNCATE later_table"))
            conn.rollback()
        with owner.begin() as conn:
            conn.execute(text("DROP TABLE later_table"))
        # privileges granted by hand are taken back by the next run
        with owner.begin() as conn:
            conn.execute(text(f'GRANT DELETE, TRUNCATE ON audit_event TO "{roles.app}"'))
        assert owner_app.test_cli_runner().invoke(
            args=["roles-bd", "--app-role", roles.app]).exit_code == 0
        with app_engine.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied"):
                conn.execute(text("DELETE FROM audit_event"))
            conn.rollback()
    finally:
        owner_app.extensions["db_engine"].dispose()


def test_roles_bd_refuses_what_would_let_the_application_rewrite_the_trail(roles, tmp_path) -> None:
    super_role, member = f"{roles.app}_su", f"{roles.app}_mb"
    with roles.superuser.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{super_role}" LOGIN SUPERUSER'))
        conn.execute(text(f'CREATE ROLE "{member}" LOGIN IN ROLE "{roles.owner}"'))
    owner_app = make_app(roles.url(roles.owner), tmp_path / "o")
    app_app = make_app(roles.url(roles.app), tmp_path / "a")
    try:
        def run(app, role: str):
            return app.test_cli_runner().invoke(args=["roles-bd", "--app-role", role])

        assert "superutilisateur" in run(owner_app, super_role).output
        assert "membre du propriétaire" in run(owner_app, member).output
        assert "un autre rôle que le propriétaire" in run(owner_app, roles.owner).output
        assert "Nom de rôle refusé" in run(owner_app, 'x"; DROP TABLE audit_event; --').output
        assert "avec le rôle propriétaire des tables" in run(app_app, f"{roles.app}_zz").output
        for result in (run(owner_app, super_role), run(app_app, "autre")):
            assert result.exit_code != 0
    finally:
        owner_app.extensions["db_engine"].dispose()
        app_app.extensions["db_engine"].dispose()


def test_the_password_is_sent_as_a_scram_verifier_postgresql_accepts(roles, tmp_path,
                                                                      monkeypatch) -> None:
    """Our verifier is the one PostgreSQL itself computes for the same password and salt."""
    probe = f"{roles.app}_pw"
    with roles.superuser.connect() as conn:
        conn.execute(text(f"CREATE ROLE \"{probe}\" PASSWORD 'mot de passe é'"))
        theirs = conn.execute(text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"),
                              {"r": probe}).scalar_one()
    salt = theirs.split("$")[1].split(":")[1]
    assert scram_verifier("mot de passe é", base64.b64decode(salt)) == theirs

    monkeypatch.setenv("BO_APP_PASSWORD", "secret-de-test-123")
    owner_app = make_app(roles.url(roles.owner), tmp_path)
    try:
        result = owner_app.test_cli_runner().invoke(
            args=["roles-bd", "--app-role", roles.app, "--password-env", "BO_APP_PASSWORD"])
        assert result.exit_code == 0, result.output
        assert "secret-de-test-123" not in result.output
    finally:
        owner_app.extensions["db_engine"].dispose()
    with roles.superuser.connect() as conn:
        stored = conn.execute(text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"),
                              {"r": roles.app}).scalar_one()
    assert stored.startswith("SCRAM-SHA-256$4096:")
    salt = base64.b64decode(stored.split("$")[1].split(":")[1])
    assert scram_verifier("secret-de-test-123", salt) == stored
