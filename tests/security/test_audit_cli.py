"""`flask verify-audit` as an operator runs it: from the latest checkpoint, --full,
--no-checkpoint, --after-restore, and a missing key; on a fresh database of each backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from backoffice import create_app
from backoffice.db import db
from backoffice.models import AuditEvent
from tests.conftest import BACKENDS, base_config, fresh_database_url
from tests.helpers import audit_triggers_disabled


@pytest.fixture(params=BACKENDS)
def cli_app(request, tmp_path):
    url = fresh_database_url(request.param, tmp_path, "auditcli")
    app = create_app({**base_config(tmp_path, url), "AUDIT_HMAC_KEY": "c" * 48})
    yield app
    app.extensions["db_engine"].dispose()


def run(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def add_users(app, *names: str) -> None:
    for name in names:
        assert run(app, "create-user", "--email", f"{name}@ans.test.fr", "--name", name,
                   "--role", "support").exit_code == 0


def checkpoint_files(app) -> list[str]:
    folder = Path(app.config["STORAGE_DIR"]) / "audit-checkpoints"
    return sorted(p.name for p in folder.glob("*.json"))


def test_verify_audit_checkpoints_then_reads_only_what_is_new(cli_app) -> None:
    add_users(cli_app, "a", "b", "c")
    first = run(cli_app, "verify-audit")
    assert first.exit_code == 0
    assert first.stdout.startswith("OK : 3 événements vérifiés (chaîne complète ; aucun point")
    assert "Point de contrôle écrit : événement 3" in first.output
    assert checkpoint_files(cli_app) == [f"{3:015d}.json"]  # under STORAGE_DIR by default

    add_users(cli_app, "d")
    readonly = run(cli_app, "verify-audit", "--no-checkpoint")
    assert readonly.stdout.startswith("OK : 1 événement(s) vérifié(s) depuis le point de "
                                      "contrôle du ")
    assert "(événement 3)" in readonly.output and "écrit" not in readonly.output
    assert len(checkpoint_files(cli_app)) == 1

    full = run(cli_app, "verify-audit", "--full")
    assert full.exit_code == 0
    assert full.stdout.startswith("OK : 4 événements vérifiés (chaîne complète), 1 point(s) de "
                                  "contrôle concordant(s).")
    assert len(checkpoint_files(cli_app)) == 2


def test_after_a_restore_the_checkpoints_beyond_it_are_set_aside_and_recorded(cli_app) -> None:
    add_users(cli_app, "a", "b")
    run(cli_app, "verify-audit")
    add_users(cli_app, "c", "d")
    run(cli_app, "verify-audit")
    with cli_app.app_context():  # what restoring the backup made after the first check does
        with audit_triggers_disabled(db):
            db.execute(delete(AuditEvent).where(AuditEvent.id > 2))
        db.commit()
    broken = run(cli_app, "verify-audit")
    assert broken.exit_code == 1
    assert broken.stdout.startswith("ROMPU à l'événement 4 : l'événement 4 du point de contrôle")
    assert "restaurée depuis une sauvegarde plus ancienne" in broken.output

    restored = run(cli_app, "verify-audit", "--after-restore")
    assert restored.exit_code == 0, restored.output
    assert "1 point(s) de contrôle au-delà de l'événement 2 écarté(s)" in restored.output
    assert "OK : 1 événement(s) vérifié(s) depuis le point de contrôle" in restored.output
    folder = Path(cli_app.config["STORAGE_DIR"]) / "audit-checkpoints"
    assert [p.name for p in (folder / "ecartes").glob("*/*.json")] == [f"{4:015d}.json"]
    with cli_app.app_context():
        last = db.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        assert last.action == "audit.points_de_controle_ecartes"
        assert last.after["points_de_controle"] == [f"{4:015d}.json"]
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == 3
    assert run(cli_app, "verify-audit", "--full").exit_code == 0


def test_production_without_a_key_is_a_french_message_not_a_traceback(cli_app, monkeypatch) -> None:
    monkeypatch.delitem(cli_app.config, "AUDIT_HMAC_KEY")
    monkeypatch.delenv("AUDIT_HMAC_KEY", raising=False)
    monkeypatch.setitem(cli_app.config, "ENV_NAME", "production")
    result = cli_app.test_cli_runner().invoke(args=["verify-audit"])
    assert result.exit_code == 1
    assert "AUDIT_HMAC_KEY n'est pas défini" in result.output
    assert "Traceback" not in result.output
