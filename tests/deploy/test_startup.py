"""The production entry points refuse to start on unsafe settings or a schema not at head,
with one French line per problem (issue 14, items 2 and 3), and start otherwise: gunicorn as
the systemd unit runs it, `backoffice.wsgi` alone, the job worker; both database tiers. The
systemd units themselves pass `systemd-analyze verify`."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backoffice import settings_check
from backoffice.db import make_engine
from config import BASE_DIR, normalise_database_url
from tests.conftest import _postgres_url, fresh_database_url, missing_tier
from tests.deploy.conftest import free_port, plain_get, start_gunicorn, stop
from tests.production_settings import application_role_url, production_environment


def _environment(tmp: Path, database_url: str, **changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAIL_", "SIGNING_", "PUBLIC_", "METRICS_", "LOG_"))}
    env.update(production_environment(tmp, database_url), PYTHONPATH=str(BASE_DIR),
               REDIS_URL="", PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"))
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _gunicorn(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
         f"127.0.0.1:{free_port()}", "backoffice.wsgi:app"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def migrated_url(backend, tmp_path) -> str:
    """Migrated by its owner, served as production's application role (PostgreSQL)."""
    return application_role_url(
        fresh_database_url(backend, tmp_path, f"start_{secrets.token_hex(3)}"))


@pytest.fixture
def empty_url(backend, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    return _postgres_url(f"start_empty_{secrets.token_hex(3)}")


def test_gunicorn_refuses_unsafe_settings_before_any_worker(migrated_url, tmp_path) -> None:
    env = _environment(tmp_path, migrated_url, SECRET_KEY=None, TOTP_ENCRYPTION_KEY=None,
                       PUBLIC_BASE_URL="http://127.0.0.1:5000")
    result = _gunicorn(env)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    header = lines.index("L'application web : 4 problème(s) de configuration "
                         "(BACKOFFICE_ENV=production) : démarrage refusé.")
    assert [line.split(" : ")[0] + " : " + line.split(" : ")[1][:10]
            for line in lines[header + 1:header + 5]] == [
        "- SECRET_KEY : non défini",
        "- TOTP_ENCRYPTION_KEY : non défini",
        "- PUBLIC_BASE_URL : doit comme",
        "- PUBLIC_BASE_URL : désigne la",
    ]
    assert "Booting worker" not in result.stderr
    assert "Traceback" not in result.stderr


def _schema_line(url: str) -> str:
    """The schema check's line for this database, as the process under test prints it."""
    engine = make_engine(normalise_database_url(url))
    try:
        line = settings_check.schema_problem(engine)
    finally:
        engine.dispose()
    assert line
    return f"- {line}"


def test_gunicorn_refuses_a_schema_not_at_head(empty_url, tmp_path) -> None:
    result = _gunicorn(_environment(tmp_path, empty_url))
    assert result.returncode == 1
    assert _schema_line(empty_url) in result.stderr.splitlines()
    assert "Booting worker" not in result.stderr


def test_gunicorn_starts_on_safe_settings_and_logs_json(migrated_url, tmp_path) -> None:
    env = _environment(tmp_path, migrated_url, WEB_CONCURRENCY="1", GUNICORN_THREADS="2")
    server = start_gunicorn(tmp_path, env)
    try:
        assert plain_get(server.port, "/sante").status == 200
        ready = plain_get(server.port, "/sante/pret")
        assert ready.status == 200, ready.body
        assert json.loads(ready.body)["status"] == "pret"
    finally:
        stop(server.process)
    records = [json.loads(line) for line in server.log_text().splitlines()
               if line.startswith("{")]
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"]
               for r in records)
    assert any(r["logger"] == "gunicorn.access" and r["path"] == "/sante/pret"
               and r["status"] == 200 for r in records)
    assert not [line for line in server.log_text().splitlines()
                if line.strip() and not line.startswith("{")], "a line that is not JSON"


def test_the_wsgi_entry_checks_on_its_own(tmp_path) -> None:
    """Served by another configuration than gunicorn.conf.py, the entry still refuses."""
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "-c", "import backoffice.wsgi"], cwd=BASE_DIR, timeout=120,
        env=_environment(tmp_path, url, MAIL_SERVER=None), capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert "- MAIL_SERVER : non défini (les e-mails seraient écrits dans un dossier local au " \
           "lieu d'être envoyés)." in lines
    assert _schema_line(url) in lines


def test_the_worker_refuses_unsafe_settings(tmp_path) -> None:
    url = fresh_database_url("sqlite", tmp_path, "worker")
    result = subprocess.run(
        [sys.executable, "-m", "backoffice.worker", "--burst"], cwd=BASE_DIR, timeout=120,
        env=_environment(tmp_path, url, TOTP_ENCRYPTION_KEY=None,
                         REDIS_URL="redis://127.0.0.1:9/0"),
        capture_output=True, text=True)
    assert result.returncode == 1
    assert ("Le worker de tâches : 1 problème(s) de configuration (BACKOFFICE_ENV=production) "
            ": démarrage refusé.") in result.stderr.splitlines()


UNITS = BASE_DIR / "deploy" / "systemd"


@pytest.mark.parametrize("unit", ["convergence-web.service", "convergence-worker@.service"])
def test_the_systemd_units_verify(unit, tmp_path, monkeypatch) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # a failure in CI (REQUIRE_TIERS), which installs it
        missing_tier("systemd-analyze is not installed (Debian package systemd)")
    text = (UNITS / unit).read_text()
    # the deployed paths, pointed at this checkout
    for old, new in (("/srv/convergence/.venv/bin/", f"{Path(sys.executable).parent}/"),
                     ("WorkingDirectory=/srv/convergence", f"WorkingDirectory={BASE_DIR}"),
                     ("EnvironmentFile=/etc/convergence/", "EnvironmentFile=-/etc/convergence/")):
        assert old in text, old
        text = text.replace(old, new)
    instance = unit.replace("@", "@1")
    (tmp_path / unit).write_text(text)
    target = tmp_path / (instance if "@" in unit else unit)
    result = subprocess.run([analyze, "verify", "--man=no", str(target)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if unit.split("@")[0] in line or "Unknown" in line]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr
    # gunicorn's graceful stop fits in systemd's
    assert "TimeoutStopSec=330" in text
    import runpy

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # read, not created, here
    graceful = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["graceful_timeout"]
    assert graceful < 330


def test_each_web_worker_freezes_what_start_up_made(monkeypatch, tmp_path) -> None:
    """gunicorn.conf.py's post_worker_init moves start-up's objects out of the garbage
    collector's sight: a full collection no longer walks them in the middle of a request."""
    import gc
    import runpy

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    hook = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["post_worker_init"]
    gc.unfreeze()
    try:
        hook(None)
        assert gc.get_freeze_count() > 10_000  # this process's modules and objects at least
    finally:
        gc.unfreeze()
