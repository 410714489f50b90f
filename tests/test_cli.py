"""flask init-db / seed-demo / create-user / verify-audit, run as a new user would,
against a fresh database of each backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from backoffice import create_app
from backoffice.db import db
from backoffice.models import AuditEvent, Candidature, Demarche, User
from tests.conftest import BACKENDS, base_config, fresh_database_url
from tests.helpers import audit_triggers_disabled

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=BACKENDS)
def cli_app(request, tmp_path):
    url = fresh_database_url(request.param, tmp_path, "cli")
    app = create_app(base_config(tmp_path, url))
    yield app
    app.extensions["db_engine"].dispose()


def run(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_init_db_is_idempotent(cli_app) -> None:
    assert run(cli_app, "init-db").exit_code == 0
    assert run(cli_app, "init-db").exit_code == 0


def test_seed_demo_creates_one_account_per_role_and_prints_them(cli_app) -> None:
    result = run(cli_app, "seed-demo", "--candidatures", "12")
    assert result.exit_code == 0
    creds = json.loads((Path(cli_app.config["INSTANCE_DIR"]) / "demo-credentials.json").read_text())
    roles = {a["role"] for a in creds["accounts"]}
    assert roles == {"admin", "verificateur", "college", "support"}
    for account in creds["accounts"]:
        assert account["email"] in result.output and account["password"] in result.output
    assert creds["api_token"]["token"].startswith("cvg_")
    mode = (Path(cli_app.config["INSTANCE_DIR"]) / "demo-credentials.json").stat().st_mode
    assert mode & 0o077 == 0  # readable by its owner only
    with cli_app.app_context():
        assert db.scalar(select(func.count()).select_from(Candidature)) == 12
        demarches = set(db.scalars(select(Candidature.demarche_code)).all())
        assert demarches == set(db.scalars(select(Demarche.code)).all())
        steps = set(db.scalars(select(Candidature.current_step)).all())
        assert len(steps) >= 5  # spread over the steps
        from backoffice.auth.passwords import verify_password

        for account in creds["accounts"]:
            user = db.scalar(select(User).where(User.email == account["email"]))
            assert verify_password(user.password_hash, account["password"])


def test_seed_demo_if_empty_does_not_seed_twice(cli_app) -> None:
    run(cli_app, "seed-demo", "--candidatures", "5")
    again = run(cli_app, "seed-demo", "--if-empty")
    assert "déjà chargées" in again.output
    with cli_app.app_context():
        assert db.scalar(select(func.count()).select_from(Candidature)) == 5


def test_demo_passwords_differ_between_installations(tmp_path) -> None:
    outputs = []
    for name in ("a", "b"):
        url = fresh_database_url("sqlite", tmp_path, name)
        app = create_app(base_config(tmp_path / name, url))
        (tmp_path / name).mkdir(exist_ok=True)
        run(app, "seed-demo", "--candidatures", "1")
        creds = json.loads((tmp_path / name / "demo-credentials.json").read_text())
        outputs.append({a["password"] for a in creds["accounts"]})
    assert not outputs[0] & outputs[1]


def test_create_user(cli_app) -> None:
    result = run(cli_app, "create-user", "--email", "Marie@ANS.test.fr", "--name", "Marie",
                 "--role", "college", "--role", "support")
    assert result.exit_code == 0
    assert "Mot de passe :" in result.output
    with cli_app.app_context():
        user = db.scalar(select(User).where(User.email == "marie@ans.test.fr"))
        assert user.roles == {"college", "support"}
    again = run(cli_app, "create-user", "--email", "marie@ans.test.fr", "--name", "M",
                "--role", "college")
    assert again.exit_code != 0 and "existe déjà" in again.output
    unknown = run(cli_app, "create-user", "--email", "z@ans.test.fr", "--name", "Z",
                  "--role", "verificateur", "--team", "Équipe fantôme")
    assert unknown.exit_code != 0 and "Équipe inconnue" in unknown.output


def test_verify_audit_detects_a_modified_row(cli_app) -> None:
    run(cli_app, "seed-demo", "--candidatures", "2")
    run(cli_app, "create-user", "--email", "a@ans.test.fr", "--name", "A", "--role", "admin")
    assert "OK" in run(cli_app, "verify-audit").output
    with cli_app.app_context():
        first = db.scalar(select(func.min(AuditEvent.id)))
        with audit_triggers_disabled(db):
            db.execute(update(AuditEvent).where(AuditEvent.id == first).values(action="falsifie"))
        db.commit()
    # The first run recorded a checkpoint at the head: a row edited before it, its hash left
    # as it was, is the full walk's to find (the nightly job); tests/security/test_audit_*
    # cover what the incremental check sees.
    result = run(cli_app, "verify-audit", "--full")
    assert result.exit_code == 1
    assert f"ROMPU à l'événement {first}" in result.output and "modifié" in result.output


def test_verify_audit_detects_a_deleted_row(cli_app) -> None:
    run(cli_app, "seed-demo", "--candidatures", "2")
    for i in range(2):
        run(cli_app, "create-user", "--email", f"u{i}@ans.test.fr", "--name", "U",
            "--role", "support")
    with cli_app.app_context():
        ids = db.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        with audit_triggers_disabled(db):
            db.execute(text("DELETE FROM audit_event WHERE id = :i"), {"i": ids[1]})
        db.commit()
    result = run(cli_app, "verify-audit")
    assert result.exit_code == 1
    assert f"ROMPU à l'événement {ids[2]}" in result.output


def test_flask_command_line_works_in_a_subprocess(tmp_path) -> None:
    """What `make run` does, through the real `flask` entry point."""
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
    env["INSTANCE_DIR"] = str(tmp_path)
    flask = [sys.executable, "-m", "flask", "--app", "backoffice"]
    outputs = []
    for args in (["init-db"], ["seed-demo", "--if-empty", "--candidatures", "3"],
                 ["seed-demo", "--if-empty"], ["verify-audit"]):
        result = subprocess.run([*flask, *args], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "Comptes de démonstration" in outputs[1]
    assert "déjà chargées" in outputs[2] and "Comptes de démonstration" in outputs[2]
    assert outputs[3].startswith("OK")
    assert (tmp_path / "backoffice.sqlite3").exists()
    secret = (tmp_path / "secret_key").read_text()
    assert len(secret) >= 40 and oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_verify_audit_detects_an_inserted_row(cli_app) -> None:
    run(cli_app, "seed-demo", "--candidatures", "1")
    run(cli_app, "create-user", "--email", "b@ans.test.fr", "--name", "B", "--role", "support")
    with cli_app.app_context():
        last = db.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        # a forged row whose own hash is right but which is not chained to its predecessor
        forged = AuditEvent(created_at=last.created_at, actor_label="faussaire",
                            action="admin.user.cree", target_type="user_account",
                            target_id="99", prev_hash="f" * 64)
        from backoffice.audit import compute_hash

        forged.hash = compute_hash(forged)
        db.add(forged)
        db.commit()
        forged_id = forged.id
    result = run(cli_app, "verify-audit")
    assert result.exit_code == 1
    assert f"ROMPU à l'événement {forged_id}" in result.output and "chaînage" in result.output


def test_the_application_cannot_change_or_delete_audit_rows(cli_app) -> None:
    from sqlalchemy.exc import DBAPIError

    run(cli_app, "seed-demo", "--candidatures", "1")
    with cli_app.app_context():
        first = db.scalar(select(func.min(AuditEvent.id)))
        for statement in (update(AuditEvent).where(AuditEvent.id == first).values(action="x"),
                          text("DELETE FROM audit_event")):
            with pytest.raises(DBAPIError, match="append-only"):
                db.execute(statement)
            db.rollback()
        assert db.scalar(select(func.count()).select_from(AuditEvent)) >= 1
