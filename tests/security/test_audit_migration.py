"""Migration 0017 on a database that already has an (unkeyed) audit trail: the old rows
keep verifying, the new keyed rows chain onto them, the append-only triggers survive the
migration both ways. Both databases."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import column, insert, select, table, text, update
from sqlalchemy.exc import DBAPIError

from backoffice import audit, create_app
from backoffice.audit import GENESIS, KEYED, LEGACY
from backoffice.audit_checkpoints import run_verification
from backoffice.db import db, make_engine
from backoffice.migrate import alembic_config, upgrade
from backoffice.models import AuditEvent
from tests.conftest import BACKENDS, TEST_DATABASE_URL, base_config, reset_postgres_database


def before_0017() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_revision("0017").down_revision


@pytest.fixture(params=BACKENDS)
def old_database(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        url = reset_postgres_database(TEST_DATABASE_URL, f"backoffice_test_h5mig_{os.getpid()}")
    engine = make_engine(url)
    with engine.begin() as connection:
        upgrade(connection, before_0017())
    yield engine, url
    engine.dispose()


def old_hash(values: dict) -> str:
    """backoffice.audit.compute_hash as it was before 0017, restated independently."""
    content = {k: v for k, v in values.items() if k not in ("id", "hash")}
    content["created_at"] = content["created_at"].isoformat()
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":"), default=str).encode()).hexdigest()


def legacy_rows(n: int) -> list[dict]:
    """Rows as the application wrote them before 0017 (bench/events.py does the same)."""
    rows, prev = [], GENESIS
    start = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    for i in range(n):
        values = {"id": i + 1, "created_at": start + timedelta(minutes=i), "actor_id": None,
                  "actor_label": "système", "action": "recevabilite.valider",
                  "target_type": "candidature", "target_id": str(i),
                  "candidature_id": None, "before": {"status": "soumise"},
                  "after": {"status": "validee", "é": "ü"}, "request_id": None,
                  "prev_hash": prev}
        values["hash"] = old_hash(values)
        prev = values["hash"]
        rows.append(values)
    return rows


def test_old_rows_verify_after_the_migration_and_new_ones_are_keyed(
        old_database, tmp_path) -> None:
    engine, url = old_database
    # the table as it was: every column but hash_scheme, with the model's types
    old = table("audit_event", *[column(c.name, c.type) for c in AuditEvent.__table__.c
                                 if c.name != "hash_scheme"])
    with engine.begin() as conn:
        conn.execute(insert(old), legacy_rows(5))
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('audit_event_id_seq', 5)"))
        upgrade(conn)
    app = create_app({**base_config(tmp_path, url), "AUDIT_HMAC_KEY": "m" * 48,
                      "AUDIT_CHECKPOINT_DIR": str(tmp_path / "points")})
    try:
        with app.app_context():
            assert db.scalars(select(AuditEvent.hash_scheme)).all() == [LEGACY] * 5
            first = run_verification(full=True)
            assert first.report.ok and first.written.hash_scheme == LEGACY, first.lines
            new = audit.record("test", "test.apres_migration", "base")
            db.commit()
            assert new.hash_scheme == KEYED and new.prev_hash == legacy_rows(5)[-1]["hash"]
            outcome = run_verification()
            assert outcome.report.ok and outcome.report.checked == 1, outcome.lines
            assert outcome.written.hash_scheme == KEYED and outcome.written.events == 6
            # the append-only triggers are still there
            with pytest.raises(DBAPIError, match="append-only"):
                db.execute(update(AuditEvent).values(action="x"))
            db.rollback()
    finally:
        app.extensions["db_engine"].dispose()
    engine.dispose()


def test_the_migration_goes_down_and_up_with_its_triggers(old_database) -> None:
    engine, _ = old_database
    with engine.begin() as conn:
        upgrade(conn)
    with engine.begin() as conn:
        cfg = alembic_config(conn)
        command.downgrade(cfg, before_0017())
    with engine.begin() as conn:
        upgrade(conn)
    with engine.connect() as conn:
        conn.execute(insert(AuditEvent.__table__).values(
            created_at=datetime.now(UTC), actor_label="x", action="a", target_type="t",
            target_id="1", prev_hash=GENESIS, hash="h" * 64, hash_scheme=KEYED))
        for statement in ("UPDATE audit_event SET action = 'y'", "DELETE FROM audit_event"):
            with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
                conn.execute(text(statement))
        conn.rollback()
