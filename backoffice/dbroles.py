"""The application's database role, which does not own the audit table (design.md,
"Production topology"; docs/operations.md, "Database roles").

PostgreSQL lets a table's owner (and a superuser) do anything to it: `ALTER TABLE
audit_event DISABLE TRIGGER`, delete the newest rows, enable the trigger again. So two
roles:

- the owner runs the migrations (`flask init-db`) and this module's `flask roles-bd`;
- the application (web and workers) connects as another role, which gets SELECT, INSERT,
  UPDATE and DELETE on the tables, but only SELECT and INSERT on `audit_event`, only
  SELECT on `alembic_version`, USAGE and SELECT on the sequences (nextval, not setval), no
  TRUNCATE, no TRIGGER, no membership of the owner. Default privileges give the tables of
  later migrations the same grants; `roles-bd` after each `init-db` re-applies the
  exceptions (idempotent).

The append-only trigger stays: it also stops the owner's own mistakes.
SQLite has no roles: the embedded mode relies on the keyed chain and its checkpoints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import unicodedata

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

AUDIT_TABLE = "audit_event"
READ_ONLY_TABLES = ("alembic_version",)
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SCRAM_ITERATIONS = 4096


class RoleError(Exception):
    """The roles cannot be set up as asked; `message` is for the operator, in French."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


# --- the check the application runs at start-up ------------------------------------------


def audit_owner_problem(engine: Engine) -> str | None:
    """A French line when the connected role could rewrite the audit trail behind the
    application's back (it owns the audit table, is a member of its owner, is a superuser,
    or can grant itself the owner's membership); None when it cannot, or on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        facts = conn.execute(text(
            "SELECT current_user AS me, r.rolsuper, r.rolcreaterole, "
            "  current_setting('server_version_num')::int AS version, "
            "  c.relowner::regrole::text AS owner, "
            "  c.oid IS NOT NULL AND pg_has_role(current_user, c.relowner, 'MEMBER') AS owns "
            "FROM pg_roles r LEFT JOIN pg_class c ON c.oid = to_regclass(:t) "
            "WHERE r.rolname = current_user"), {"t": AUDIT_TABLE}).mappings().one()
        conn.rollback()
    me = facts["me"]
    if facts["rolsuper"]:
        return (f"La base est ouverte avec le rôle « {me} », superutilisateur : il peut désactiver "
                "le déclencheur du journal d'audit et en supprimer des lignes. Connectez "
                "l'application avec le rôle applicatif (flask roles-bd).")
    if facts["owns"]:
        return (f"La base est ouverte avec le rôle « {me} », propriétaire de la table "
                f"{AUDIT_TABLE} (ou membre de « {facts['owner']} ») : il peut désactiver son "
                "déclencheur et en supprimer des lignes. Les migrations se lancent avec ce rôle, "
                "l'application avec le rôle applicatif (flask roles-bd).")
    if facts["rolcreaterole"] and facts["version"] < 160000:
        return (f"La base est ouverte avec le rôle « {me} », qui a CREATEROLE : avant "
                "PostgreSQL 16, il peut se donner le rôle propriétaire du journal d'audit. "
                "Retirez-le (ALTER ROLE … NOCREATEROLE).")
    return None


# --- setting up the application's role ----------------------------------------------------


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores (RFC 5802/7677), computed here so that
    the password itself never reaches the server (nor its statement log). PostgreSQL
    SASLprep-normalises the password first: NFKC, as here."""
    salt = salt or secrets.token_bytes(16)
    password = unicodedata.normalize("NFKC", password)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return (f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:"
            f"{b64(server_key)}")


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _role(conn: Connection, name: str) -> dict | None:
    row = conn.execute(text(
        "SELECT rolsuper, rolcreaterole, rolcanlogin, "
        "  pg_has_role(:name, c.relowner, 'MEMBER') AS owns "
        "FROM pg_roles r, pg_class c "
        "WHERE r.rolname = :name AND c.oid = to_regclass(:t)"),
        {"name": name, "t": AUDIT_TABLE}).mappings().first()
    return dict(row) if row else None


def ensure_app_role(engine: Engine, role: str, *, password: str | None = None) -> list[str]:
    """Create the application's role if needed and (re)apply its grants, in one
    transaction; returns what was done, in French. Run as the owner of the tables (the
    role of the migrations) or a superuser."""
    if engine.dialect.name != "postgresql":
        return ["SQLite : pas de rôles de base de données en mode embarqué ; rien à faire."]
    if not ROLE_NAME.match(role):
        raise RoleError(f"Nom de rôle refusé : « {role} » (minuscules, chiffres et _, "
                        "63 caractères au plus).")
    try:
        return _ensure(engine, role, password)
    except DBAPIError as error:
        raise RoleError(f"PostgreSQL a refusé la mise en place des droits : "
                        f"{_first_line(error)}") from error


def _ensure(engine: Engine, role: str, password: str | None) -> list[str]:
    done: list[str] = []
    with engine.begin() as conn:
        me, superuser, schema, database = conn.execute(text(
            "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
            "current_schema(), current_database()")).one()
        owner = conn.execute(text("SELECT relowner::regrole::text FROM pg_class "
                                  "WHERE oid = to_regclass(:t)"), {"t": AUDIT_TABLE}).scalar()
        if owner is None:
            raise RoleError("La table audit_event n'existe pas : lancez d'abord "
                            "`flask init-db` (les migrations).")
        owner = owner.strip('"')
        if role in (me, owner):
            raise RoleError(f"Le rôle applicatif doit être un autre rôle que le propriétaire "
                            f"des tables (« {owner} ») et que celui qui lance la commande.")
        if not superuser and me != owner:
            raise RoleError(f"Lancez roles-bd avec le rôle propriétaire des tables (« {owner} », "
                            f"celui des migrations) ; la connexion actuelle est « {me} ».")
        q, qs, qowner = _quote(conn, role), _quote(conn, schema), _quote(conn, owner)
        existing = _role(conn, role)
        if existing is None:
            try:
                with conn.begin_nested():
                    conn.execute(text(f"CREATE ROLE {q} LOGIN NOSUPERUSER NOCREATEDB "
                                      "NOCREATEROLE NOREPLICATION NOBYPASSRLS"))
            except DBAPIError as error:
                raise RoleError(
                    f"Impossible de créer le rôle « {role} » avec « {me} » ({_first_line(error)}). "
                    f"Créez-le avec un superutilisateur : CREATE ROLE {q} LOGIN; puis relancez "
                    "roles-bd.") from error
            done.append(f"Rôle « {role} » créé (LOGIN, sans autre attribut).")
        else:
            problems = [label for flag, label in (
                ("rolsuper", "superutilisateur"), ("rolcreaterole", "CREATEROLE"),
                ("owns", f"membre du propriétaire « {owner} »")) if existing[flag]]
            if problems:
                raise RoleError(f"Le rôle « {role} » existe et est {', '.join(problems)} : il "
                                "pourrait réécrire le journal d'audit. Retirez-lui ces droits "
                                "(avec un superutilisateur) ou choisissez un autre rôle.")
            done.append(f"Rôle « {role} » existant : droits remis à jour.")
        if password is not None:
            # base64, '$' and ':' only: nothing to escape (and no bind parameter for text())
            verifier = scram_verifier(password)
            conn.exec_driver_sql(f"ALTER ROLE {q} LOGIN PASSWORD '{verifier}'")
            done.append("Mot de passe défini (SCRAM-SHA-256, vérificateur calculé localement).")
        done += _grant(conn, q, qs, qowner, database)
    return done


def _grant(conn: Connection, q: str, qs: str, qowner: str, database: str) -> list[str]:
    """Everything from scratch each time: privileges granted by hand are taken back."""
    tables = f"ALL TABLES IN SCHEMA {qs}"
    sequences = f"ALL SEQUENCES IN SCHEMA {qs}"
    audit = f"{qs}.{_quote(conn, AUDIT_TABLE)}"
    statements = [
        f"GRANT CONNECT ON DATABASE {_quote(conn, database)} TO {q}",
        f"GRANT USAGE ON SCHEMA {qs} TO {q}",
        f"REVOKE ALL ON {tables} FROM {q}",
        f"REVOKE ALL ON {sequences} FROM {q}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {q}",
        f"GRANT USAGE, SELECT ON {sequences} TO {q}",
        # the audit trail: read and append, nothing else
        f"REVOKE UPDATE, DELETE ON {audit} FROM {q}",
        *[f"REVOKE INSERT, UPDATE, DELETE ON {qs}.{_quote(conn, name)} FROM {q}"
          for name in READ_ONLY_TABLES if _exists(conn, name)],
        # tables and sequences of later migrations (created by the owner) get the same
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {qowner} IN SCHEMA {qs} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {q}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {qowner} IN SCHEMA {qs} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {q}",
    ]
    for statement in statements:
        conn.execute(text(statement))
    return [f"Droits accordés : lecture et écriture sur les tables du schéma {qs}, sauf "
            f"{AUDIT_TABLE} (lecture et ajout seulement) et alembic_version (lecture) ; "
            "séquences : nextval ; privilèges par défaut pour les tables des migrations "
            "suivantes (relancez roles-bd après chaque init-db)."]


def _exists(conn: Connection, table: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar_one()


def _first_line(error: Exception) -> str:
    return str(getattr(error, "orig", error)).strip().splitlines()[0]


@click.command("roles-bd")
@click.option("--app-role", "role", required=True,
              help="Rôle PostgreSQL de l'application (créé s'il n'existe pas).")
@click.option("--password-env", "password_env", default=None, metavar="VARIABLE",
              help="Variable d'environnement contenant le mot de passe du rôle applicatif "
                   "(jamais en argument).")
@with_appcontext
def roles_bd(role: str, password_env: str | None) -> None:
    """Create or update the application's database role (run as the tables' owner)."""
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise click.ClickException(f"La variable {password_env} est vide ou absente.")
    try:
        lines = ensure_app_role(current_app.extensions["db_engine"], role, password=password)
    except RoleError as error:
        raise click.ClickException(error.message) from error
    for line in lines:
        click.echo(line)
