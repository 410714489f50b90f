"""Settings checked at start (issue 14, item 2): each missing or unsafe setting gives its own
French line; `flask check-config` prints them (exit 1); in production the application's
own check stops the process. The database part (schema at the migrations' head) on both
tiers. The real entry points (gunicorn, backoffice.wsgi, the worker) are started in
tests/deploy/test_startup.py."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from backoffice import create_app, settings_check
from backoffice.db import make_engine
from backoffice.migrate import upgrade
from backoffice.signing import generate_demo_material
from config import BASE_DIR, Config
from tests.conftest import _postgres_url, base_config
from tests.production_settings import (
    application_role_url,
    production_environment,
    signing_material,
)


@pytest.fixture
def environment(tmp_path, monkeypatch) -> dict[str, str]:
    """A production environment that passes every check (database aside)."""
    values = production_environment(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}")
    for name in ("SECRET_KEY", "TOTP_ENCRYPTION_KEY", "AUDIT_HMAC_KEY", "PUBLIC_BASE_URL",
                 "MAIL_SERVER",
                 "MAIL_DEFAULT_SENDER", "MAIL_PASSWORD", "MAIL_USE_TLS", "SIGNING_KEY",
                 "SIGNING_CERT", "SIGNING_CA", "TRUSTED_PROXIES", "METRICS_TOKEN",
                 "METRICS_ALLOWED_NETWORKS", "LOG_FORMAT", "LOG_LEVEL",
                 "SESSION_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _problems(monkeypatch, **env: str | None) -> list[str]:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return settings_check.problems(Config().as_dict())


def test_a_complete_production_environment_has_no_problem(environment, monkeypatch) -> None:
    assert _problems(monkeypatch) == []


def _other_pair(tmp: Path) -> dict[str, str]:
    return signing_material(tmp / "other")


CASES: list[tuple[str, Any, list[str]]] = [
    ("secret key missing", {"SECRET_KEY": None},
     ["SECRET_KEY : non défini dans l'environnement"]),
    ("secret key from an example", {"SECRET_KEY": "change-me"},
     ["SECRET_KEY : valeur d'exemple ou trop simple"]),
    ("secret key with little variety", {"SECRET_KEY": "ab" * 30},
     ["SECRET_KEY : valeur d'exemple ou trop simple"]),
    ("secret key too short", {"SECRET_KEY": "Zq8-LmW2xR5tYp0vN7"},
     ["SECRET_KEY : trop court (18 caractères"]),
    ("TOTP key missing (each host would make its own)", {"TOTP_ENCRYPTION_KEY": None},
     ["TOTP_ENCRYPTION_KEY : non défini dans l'environnement"]),
    ("audit key missing (each host would seal its own chain)", {"AUDIT_HMAC_KEY": None},
     ["AUDIT_HMAC_KEY : non défini dans l'environnement"]),
    ("audit key too short", {"AUDIT_HMAC_KEY": "Zq8-LmW2xR5tYp0vN7"},
     ["AUDIT_HMAC_KEY : trop court (18 caractères"]),
    ("public address missing", {"PUBLIC_BASE_URL": None},
     ["PUBLIC_BASE_URL : doit commencer par https://", "PUBLIC_BASE_URL : désigne la machine "
      "locale (127.0.0.1)"]),
    ("public address in clear", {"PUBLIC_BASE_URL": "http://backoffice.ans.example"},
     ["PUBLIC_BASE_URL : doit commencer par https://"]),
    ("public address on localhost", {"PUBLIC_BASE_URL": "https://localhost:8443"},
     ["PUBLIC_BASE_URL : désigne la machine locale (localhost)"]),
    ("public address on the loopback in IPv6", {"PUBLIC_BASE_URL": "https://[::1]/"},
     ["PUBLIC_BASE_URL : désigne la machine locale (::1)"]),
    ("signing key missing", {"SIGNING_KEY": None}, ["SIGNING_KEY : non défini"]),
    ("signing files missing", {"SIGNING_KEY": None, "SIGNING_CERT": None, "SIGNING_CA": None},
     ["SIGNING_KEY : non défini", "SIGNING_CERT : non défini", "SIGNING_CA : non défini"]),
    ("signing certificate unreadable", {"SIGNING_CERT": "/nonexistent/cert.pem"},
     ["SIGNING_CERT : fichier illisible (/nonexistent/cert.pem"]),
    ("mail server missing", {"MAIL_SERVER": None}, ["MAIL_SERVER : non défini"]),
    ("sender left at the example", {"MAIL_DEFAULT_SENDER": None},
     ["MAIL_DEFAULT_SENDER : adresse d'exemple"]),
    ("sender without an address", {"MAIL_DEFAULT_SENDER": "Convergence"},
     ["MAIL_DEFAULT_SENDER : adresse invalide"]),
    ("mail password in clear", {"MAIL_PASSWORD": "motdepasse-smtp"},
     ["MAIL_PASSWORD : défini sans MAIL_USE_TLS"]),
    ("storage in the source tree", {"STORAGE_DIR": str(BASE_DIR / "instance" / "storage")},
     ["STORAGE_DIR : dans le dossier des sources"]),
    ("storage relative", {"STORAGE_DIR": "instance/storage"}, ["STORAGE_DIR : chemin relatif"]),
    ("storage missing (an unmounted share)", {"STORAGE_DIR": "/nonexistent/partage"},
     ["STORAGE_DIR : le dossier /nonexistent/partage n'existe pas"]),
    ("storage not writable", {"STORAGE_DIR": "/sys"},
     ["STORAGE_DIR : pas accessible en écriture (/sys"]),
    ("proxies not a number", {"TRUSTED_PROXIES": "un"}, ["TRUSTED_PROXIES : nombre de proxys"]),
    ("metrics network invalid", {"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,10.0.0.0/33"},
     ["METRICS_ALLOWED_NETWORKS : réseau invalide « 10.0.0.0/33 »"]),
    ("metrics token too short", {"METRICS_TOKEN": "court"}, ["METRICS_TOKEN : trop court"]),
    ("log format unknown", {"LOG_FORMAT": "xml"}, ["LOG_FORMAT : « xml » inconnu"]),
    ("cookies sent in clear", {"SESSION_COOKIE_SECURE": "false"},
     ["SESSION_COOKIE_SECURE : désactivé"]),
]


@pytest.mark.parametrize(("change", "expected"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_unsafe_setting_gives_its_own_french_line(environment, monkeypatch, change,
                                                       expected) -> None:
    found = _problems(monkeypatch, **change)
    assert len(found) == len(expected), found
    for line, start in zip(found, expected, strict=True):
        assert line.startswith(start), (line, start)


def test_a_secret_generated_in_the_instance_folder_is_refused(environment, tmp_path,
                                                              monkeypatch) -> None:
    """Outside production config.py generates missing secrets per host; check-config run
    there (or a production that reads them) must say so."""
    monkeypatch.setenv("BACKOFFICE_ENV", "development")
    monkeypatch.delenv("TOTP_ENCRYPTION_KEY")
    monkeypatch.setattr("config.INSTANCE_DIR", Path(environment["INSTANCE_DIR"]))
    config = Config().as_dict()
    assert (Path(environment["INSTANCE_DIR"]) / "totp_encryption_key").is_file()
    found = settings_check.problems(config)
    assert [line[:60] for line in found] == [
        "TOTP_ENCRYPTION_KEY : généré dans le dossier d'instance de c"]


def test_production_never_generates_a_secret(environment, monkeypatch) -> None:
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.setattr("config.INSTANCE_DIR", Path(environment["INSTANCE_DIR"]))
    assert Config().SECRET_KEY is None
    assert not (Path(environment["INSTANCE_DIR"]) / "secret_key").exists()


def test_demo_signing_material_is_refused(environment, tmp_path, monkeypatch) -> None:
    demo = generate_demo_material(tmp_path / "demo")
    found = _problems(monkeypatch, **demo)
    assert len(found) == 1
    assert found[0].startswith("SIGNING_CERT / SIGNING_CA : matériel de démonstration")
    # the demo CA alone, with a real-looking certificate, is caught as well
    found = _problems(monkeypatch, SIGNING_CA=demo["SIGNING_CA"],
                      SIGNING_CERT=environment["SIGNING_CERT"],
                      SIGNING_KEY=environment["SIGNING_KEY"])
    assert found[0].startswith("SIGNING_CERT / SIGNING_CA : matériel de démonstration")


def test_signing_material_that_does_not_fit_together_is_refused(environment, tmp_path,
                                                                monkeypatch) -> None:
    other = signing_material(tmp_path / "other")
    assert _problems(monkeypatch, SIGNING_KEY=other["SIGNING_KEY"]) == [
        "SIGNING_KEY : la clé ne correspond pas au certificat SIGNING_CERT."]
    monkeypatch.setenv("SIGNING_KEY", environment["SIGNING_KEY"])
    assert _problems(monkeypatch, SIGNING_CA=other["SIGNING_CA"]) == [
        "SIGNING_CERT : n'a pas été émis par l'AC de SIGNING_CA."]
    expired = signing_material(tmp_path / "expired", expired=True)
    found = _problems(monkeypatch, **expired)
    assert len(found) == 1 and found[0].startswith("SIGNING_CERT : expiré depuis le ")
    Path(tmp_path / "garbage.pem").write_text("pas une clé")
    assert _problems(monkeypatch, SIGNING_KEY=str(tmp_path / "garbage.pem"),
                     **{k: v for k, v in environment.items() if k in ("SIGNING_CERT",
                                                                      "SIGNING_CA")}) == [
        "SIGNING_KEY : clé privée PEM illisible (pas au format PEM, ou protégée par une "
        "phrase de passe)."]


# --- the database: both tiers ---------------------------------------------------------------

@pytest.fixture
def empty_database_url(backend, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    return _postgres_url(f"settings_{secrets.token_hex(4)}")


def test_schema_at_head_is_no_problem(engine) -> None:
    assert settings_check.schema_problem(engine) is None


def test_the_application_role_passes_the_database_checks_and_the_owner_does_not(engine) -> None:
    """PostgreSQL: the tests' own role is a superuser, which could disable the audit table's
    trigger; production connects as the application's role (flask roles-bd)."""
    url = engine.url.render_as_string(hide_password=False)
    as_application = make_engine(application_role_url(url))
    try:
        assert settings_check.database_problems(as_application) == []
    finally:
        as_application.dispose()
    problems = settings_check.database_problems(engine)
    if engine.dialect.name == "sqlite":
        assert problems == []
    else:
        [line] = problems
        assert line.startswith("La base est ouverte avec le rôle « postgres », "
                               "superutilisateur")


def test_an_empty_database_and_one_behind_are_problems(empty_database_url) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert settings_check.schema_problem(engine) == (
            "La base de données n'est pas initialisée : lancez `make db` "
            "(flask --app backoffice init-db).")
        # (on PostgreSQL the tests' superuser is refused too: not the point here)
        assert settings_check.database_problems(engine)[0] == settings_check.schema_problem(
            engine)
        with engine.begin() as connection:
            upgrade(connection, "0011")
        line = settings_check.schema_problem(engine)
        assert line.startswith("Le schéma de la base de données n'est pas à jour (révision "
                               "0011, attendue ")
        assert line.endswith(" : lancez `make db` (flask --app backoffice init-db).")
        assert line in settings_check.database_problems(engine)
        with engine.begin() as connection:
            upgrade(connection)
        assert settings_check.schema_problem(engine) is None
    finally:
        engine.dispose()


def test_an_unreachable_database_is_one_line_without_its_password() -> None:
    engine = make_engine("postgresql+psycopg://convergence:mot-de-passe-secret@127.0.0.1:9/base")
    try:
        [line] = settings_check.database_problems(engine)
    finally:
        engine.dispose()
    assert line.startswith("Base de données : injoignable (postgresql+psycopg://convergence:***@")
    assert "mot-de-passe-secret" not in line
    assert "\n" not in line


# --- check-config and the application's own refusal ----------------------------------------

def _production_app(tmp: Path, engine, monkeypatch, **overrides: Any):
    environment = production_environment(tmp, "unused")
    config = {**base_config(tmp, engine.url.render_as_string(hide_password=False)),
              **{k: v for k, v in environment.items() if k != "DATABASE_URL"},
              "ENV_NAME": "production", "SESSION_COOKIE_SECURE": True, **overrides}
    app = create_app(config)
    app.extensions["db_engine"].dispose()
    app.extensions["db_engine"] = engine
    return app


@pytest.fixture
def application_engine(engine):
    """The test database as production's application role sees it."""
    app_engine = make_engine(application_role_url(
        engine.url.render_as_string(hide_password=False)))
    yield app_engine
    app_engine.dispose()


def test_check_config_passes_a_complete_production(application_engine, tmp_path,
                                                   monkeypatch) -> None:
    app = _production_app(tmp_path, application_engine, monkeypatch)
    result = app.test_cli_runner().invoke(args=["check-config"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("La configuration : configuration de production sans "
                                     "problème.")
    settings_check.enforce(app)  # and the application starts


def test_check_config_lists_the_problems_and_exits_1(application_engine, tmp_path, monkeypatch,
                                                     capsys) -> None:
    app = _production_app(tmp_path, application_engine, monkeypatch,
                          PUBLIC_BASE_URL="http://ans.example",
                          MAIL_SERVER=None)
    result = app.test_cli_runner().invoke(args=["check-config"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "La configuration : 2 problème(s) de configuration (BACKOFFICE_ENV=production) :",
        "- PUBLIC_BASE_URL : doit commencer par https:// (valeur : http://ans.example) ; les "
        "QR codes des certificats y renvoient.",
        "- MAIL_SERVER : non défini (les e-mails seraient écrits dans un dossier local au lieu "
        "d'être envoyés).",
    ]
    # the application's own check prints the same lines and stops the process
    with pytest.raises(SystemExit) as stop:
        settings_check.enforce(app, "worker")
    assert stop.value.code == 1
    printed = capsys.readouterr().err.splitlines()
    assert printed[0] == ("Le worker de tâches : 2 problème(s) de configuration "
                          "(BACKOFFICE_ENV=production) : démarrage refusé.")
    assert printed[1:] == result.output.splitlines()[1:]


def test_the_check_includes_the_schema(empty_database_url, tmp_path, monkeypatch) -> None:
    engine = make_engine(empty_database_url)
    try:
        app = _production_app(tmp_path, engine, monkeypatch)
        result = app.test_cli_runner().invoke(args=["check-config"])
        assert result.exit_code == 1
        schema_line = f"- {settings_check.schema_problem(engine)}"
        assert schema_line in result.output.splitlines()
        # and init-db, which builds the same application, still brings the schema to head
        init = app.test_cli_runner().invoke(args=["init-db"])
        assert init.exit_code == 0, init.output
        after = app.test_cli_runner().invoke(args=["check-config"])
        # the owner that migrated may not serve (PostgreSQL); the schema is no longer a problem
        assert schema_line not in after.output.splitlines()
        assert after.exit_code == (0 if engine.dialect.name == "sqlite" else 1), after.output
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def test_outside_production_nothing_is_refused(app) -> None:
    assert app.config["ENV_NAME"] == "development"
    assert settings_check.problems(app.config)  # the test settings are not production's
    settings_check.enforce(app)  # but nothing stops
