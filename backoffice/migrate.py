"""The database set-up: creating the PostgreSQL database when it is missing, running the
Alembic migrations under a lock (init-db is the only place that migrates; the tests use
`upgrade` directly), and telling whether a database is at the migrations' head.

Every failure an operator can meet here is a `DatabaseUnavailable` carrying one French
line: `make db` prints it instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from config import BASE_DIR

# pg_advisory_xact_lock key shared by every host and process running init-db (any
# constant will do; this one reads "backoffi" in ASCII).
LOCK_KEY = 0x6261636B6F666669


class DatabaseUnavailable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """The migrations' configuration, built here rather than read from alembic.ini, so
    that an installed wheel migrates without the source tree's files (alembic.ini stays
    for running `alembic` by hand from a checkout)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(BASE_DIR / "migrations"))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(connection), revision)


@cache  # the migrations do not change while a process runs; a probe may ask every second
def _script() -> tuple[frozenset[str], frozenset[str]]:
    script = ScriptDirectory.from_config(alembic_config())
    return (frozenset(script.get_heads()),
            frozenset(s.revision for s in script.walk_revisions()))


def heads() -> set[str]:
    return set(_script()[0])


def current_revisions(connection: Connection) -> set[str]:
    """The database's revision(s), read from alembic_version directly: Alembic's
    MigrationContext logs two INFO lines at each call, and the readiness probe and the
    start-up checks call this often."""
    if not inspect(connection).has_table("alembic_version"):
        return set()
    return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


@contextmanager
def exclusive(connection: Connection) -> Iterator[None]:
    """Hold the set-up lock until the connection's transaction ends: two hosts deploying
    at once run one after the other, and the second finds nothing left to do. SQLite
    needs none: its write lock already serialises writers."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    yield


@contextmanager
def _patient(connection: Connection) -> Iterator[None]:
    """SQLite: wait minutes, not the application's 5 s, for another init-db's write lock
    (set on the driver's connection, before SQLAlchemy's BEGIN IMMEDIATE waits for it)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    if raw is None:  # an invalidated connection: its BEGIN fails next, with the reason
        yield
        return
    raw.execute("PRAGMA busy_timeout = 600000")
    try:
        yield
    finally:
        raw.execute("PRAGMA busy_timeout = 5000")


def upgrade_locked(engine: Engine) -> tuple[set[str], set[str]]:
    """Migrate to head under the lock, in one transaction; (revisions before, after)."""
    try:
        with engine.connect() as connection, _patient(connection), connection.begin(), \
                exclusive(connection):
            before = current_revisions(connection)
            if before != heads():
                upgrade(connection)
            return before, current_revisions(connection)
    except SQLAlchemyError as error:
        raise DatabaseUnavailable(_unreachable(engine, error)) from None


def schema_problem(engine: Engine) -> str | None:
    """A French line when the database is not at the migrations' head (or cannot be
    read), None when it is. For the start-up check and the readiness probe."""
    try:
        with engine.connect() as connection:
            current = current_revisions(connection)
    except SQLAlchemyError as error:
        return _unreachable(engine, error)
    expected = heads()
    if current == expected:
        return None
    if not current:
        return ("La base de données n'est pas initialisée : lancez `make db` "
                "(flask --app backoffice init-db).")
    wanted = ", ".join(sorted(expected))
    found = ", ".join(sorted(current))
    if current - _known_revisions():
        return (f"La base de données est à la révision {found}, inconnue de cette version "
                f"de l'application (dernière connue : {wanted}) : déployez la version qui "
                "correspond à la base.")
    return (f"Le schéma de la base de données n'est pas à jour (révision {found}, attendue "
            f"{wanted}) : lancez `make db` (flask --app backoffice init-db).")


def _known_revisions() -> set[str]:
    return set(_script()[1])


# --- creating the database ---------------------------------------------------------


def ensure_database(engine: Engine) -> bool:
    """Create the PostgreSQL database of `engine` when it does not exist, from the same
    server's `postgres` database; True if it was created. When the database cannot be
    reached or made, DatabaseUnavailable says why and how to do it by hand."""
    try:
        with engine.connect():
            return False
    except SQLAlchemyError as error:
        if engine.dialect.name != "postgresql":
            raise DatabaseUnavailable(_unreachable(engine, error)) from None
        first_error = error
    url = engine.url
    name, user = url.database, url.username or "backoffice"
    if not name:  # the driver tried the role's own database: nothing to create by name
        where = make_url(url).render_as_string(hide_password=True)
        raise DatabaseUnavailable(
            f"DATABASE_URL ne nomme aucune base de données ({where}) : ajoutez son nom à la "
            f"fin de l'adresse, puis relancez `make db`.")
    maintenance = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                       {"n": name})
            if exists:
                if "does not exist" in str(first_error):
                    return False  # another host's init-db created it since our first try
                # it exists: the first error was something else (password…)
                raise DatabaseUnavailable(_unreachable(engine, first_error))
            quoted = connection.dialect.identifier_preparer.quote(name)
            try:
                connection.execute(text(f"CREATE DATABASE {quoted}"))
            except SQLAlchemyError as error:
                if _created_meanwhile(error):  # another host's init-db made it first
                    return False
                raise
            return True
    except SQLAlchemyError as error:
        if "does not exist" in str(first_error) or "permission denied" in str(error):
            raise DatabaseUnavailable(
                f"La base « {name} » n'existe pas et ne peut pas être créée ici "
                f"({_cause(error)}) : créez-la en tant qu'administrateur PostgreSQL "
                f"(createdb -O {user} {name}), puis relancez `make db`.") from None
        raise DatabaseUnavailable(_unreachable(engine, first_error)) from None
    finally:
        maintenance.dispose()


def _created_meanwhile(error: SQLAlchemyError) -> bool:
    text_ = str(error)
    return "already exists" in text_ or "pg_database_datname_index" in text_


def _cause(error: SQLAlchemyError) -> str:
    """The driver's first line, without SQLAlchemy's wrapping and its link."""
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else error.__class__.__name__


def _unreachable(engine: Engine, error: SQLAlchemyError) -> str:
    where = make_url(engine.url).render_as_string(hide_password=True)
    if "database is locked" in str(error):
        return (f"Base de données {where} verrouillée par un autre processus (un autre "
                "`make db` ?) : relancez la commande quand il a fini.")
    return (f"Base de données injoignable ({where}) : {_cause(error)}. Vérifiez "
            "DATABASE_URL et que le serveur de base de données est démarré.")
