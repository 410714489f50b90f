"""Tampering with the audit trail as its owner or a superuser would (issue 15 item 2), on
both databases: each attack must make `verify-audit` fail, from the latest checkpoint and
with --full. And the incremental check reads only the rows after the checkpoint (issue 19
item 5).

Rows are tampered with inside the test's transaction, through the test's superuser
connection (the triggers disabled as the table's owner can: tests.helpers)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import delete, event, select, update

from backoffice import audit
from backoffice.audit import GENESIS, KEYED, LEGACY, AuditKeyError, audit_key, compute_hash
from backoffice.audit_checkpoints import CheckpointStore, run_verification
from backoffice.db import db
from backoffice.models import AuditEvent
from tests.helpers import audit_triggers_disabled


@pytest.fixture
def checkpoints(app, ctx, tmp_path, monkeypatch) -> Path:
    """This test's checkpoint folder (the session's application is shared)."""
    folder = tmp_path / "checkpoints"
    monkeypatch.setitem(app.config, "AUDIT_CHECKPOINT_DIR", str(folder))
    return folder


def events(n: int, label: str = "base") -> list[AuditEvent]:
    return [audit.record("test", "test.evenement", label, after={"i": i}) for i in range(n)]


def verify(full: bool = False, write: bool = False):
    return run_verification(full=full, write=write, batch=7)  # small pages: several of them


def rows() -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def rewrite_chain(start: AuditEvent, hasher, scheme: int) -> None:
    """Recompute every hash from `start` on, as a forger would (triggers disabled)."""
    prev = db.scalar(select(AuditEvent.hash).where(AuditEvent.id < start.id)
                     .order_by(AuditEvent.id.desc()).limit(1)) or GENESIS
    with audit_triggers_disabled(db):
        for row in db.scalars(select(AuditEvent).where(AuditEvent.id >= start.id)
                              .order_by(AuditEvent.id)).all():
            row.prev_hash, row.hash_scheme = prev, scheme
            row.hash = hasher(audit._content(row).encode())
            db.flush()
            prev = row.hash


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def assert_detected(*, at: int | None, says: str) -> None:
    for full in (False, True):
        outcome = verify(full=full)
        assert not outcome.report.ok, f"full={full}: {outcome.lines}"
        assert outcome.report.broken_id == at, (full, outcome.lines)
        assert says in outcome.lines[0], (full, outcome.lines)
        assert outcome.lines[0].startswith("ROMPU")


def test_new_rows_are_keyed_and_verify(checkpoints) -> None:
    written = events(3)
    assert {e.hash_scheme for e in written} == {KEYED}
    # the stored hash is an HMAC: plain SHA-256 of the same content is something else
    assert written[0].hash != sha256(audit._content(written[0]).encode())
    assert written[0].hash == compute_hash(written[0], audit_key())
    outcome = verify(write=True)
    assert outcome.report.ok and outcome.report.checked == 3, outcome.lines
    assert outcome.lines[0].startswith("OK") and "aucun point de contrôle" in outcome.lines[0]
    assert outcome.written.event_id == written[-1].id and outcome.written.events == 3
    assert verify(full=True).report.checkpoints_matched == 1


def test_deleting_the_newest_rows_after_a_checkpoint_is_detected(checkpoints) -> None:
    written = events(5)
    assert verify(write=True).written.event_id == written[-1].id
    with audit_triggers_disabled(db):
        db.execute(delete(AuditEvent).where(AuditEvent.id >= written[3].id))
    assert_detected(at=written[-1].id, says="est absent de la base")


def test_deleting_the_newest_rows_and_appending_others_is_detected(checkpoints) -> None:
    """The forger deletes the tail and lets the application write on: the chain is whole
    again, but the checkpoint's row is gone (PostgreSQL: ids move on) or is another row
    (SQLite reuses the ids)."""
    written = events(5)
    verify(write=True)
    with audit_triggers_disabled(db):
        db.execute(delete(AuditEvent).where(AuditEvent.id >= written[2].id))
    db.expire_all()
    events(4, "remplacement")
    assert verify_chain_ok()  # the chain alone no longer shows it
    outcome = verify()
    assert not outcome.report.ok and outcome.report.broken_id == written[-1].id, outcome.lines
    full = verify(full=True)
    assert not full.report.ok and full.report.broken_id == written[-1].id, full.lines


def verify_chain_ok() -> bool:
    return audit.verify_chain(db(), batch=7).ok


def test_editing_a_row_and_recomputing_with_plain_sha256_is_detected(checkpoints) -> None:
    written = events(6)
    verify(write=True)
    written += events(2)
    victim = written[2]
    with audit_triggers_disabled(db):
        db.execute(update(AuditEvent).where(AuditEvent.id == victim.id)
                   .values(after={"i": "falsifié"}))
    db.expire_all()
    # as an unkeyed row (scheme 1), so that each hash is "right" for its scheme
    rewrite_chain(db.get(AuditEvent, victim.id), sha256, LEGACY)
    outcome = verify()
    assert not outcome.report.ok and outcome.report.broken_id == written[5].id
    assert "n'est plus celle du point de contrôle" in outcome.lines[0]
    full = verify(full=True)
    assert not full.report.ok and full.report.broken_id == victim.id
    assert "sans clé après des lignes signées" in full.lines[0]


def test_recomputing_with_sha256_under_the_keyed_label_is_detected(checkpoints) -> None:
    written = events(6)
    verify(write=True)
    with audit_triggers_disabled(db):
        db.execute(update(AuditEvent).where(AuditEvent.id == written[1].id)
                   .values(actor_label="quelqu'un d'autre"))
    db.expire_all()
    rewrite_chain(db.get(AuditEvent, written[1].id), sha256, KEYED)
    outcome = verify()
    assert not outcome.report.ok and outcome.report.broken_id == written[-1].id
    full = verify(full=True)
    assert not full.report.ok and full.report.broken_id == written[1].id
    assert "modifié" in full.lines[0]


def test_recomputing_without_the_key_is_detected(checkpoints) -> None:
    """A forger who guesses a key (or takes one from another installation) writes HMACs
    that look right and are not."""
    written = events(6)
    verify(write=True)
    guessed = audit.derived_key(b"une autre cle de 32 caracteres ou plus!", "row")
    with audit_triggers_disabled(db):
        db.execute(update(AuditEvent).where(AuditEvent.id == written[3].id)
                   .values(action="recevabilite.valider"))
    db.expire_all()
    rewrite_chain(db.get(AuditEvent, written[3].id),
                  lambda content: hmac.new(guessed, content, hashlib.sha256).hexdigest(), KEYED)
    outcome = verify()
    assert not outcome.report.ok and outcome.report.broken_id == written[-1].id
    full = verify(full=True)
    assert not full.report.ok and full.report.broken_id == written[3].id


def test_rewriting_the_whole_chain_as_unkeyed_is_detected_by_the_checkpoint(checkpoints) -> None:
    """Every row turned into an old-style row, consistently from the first one: the chain
    alone verifies; only the checkpoint, kept outside the database, shows it."""
    written = events(5)
    verify(write=True)
    rewrite_chain(written[0], sha256, LEGACY)
    assert verify_chain_ok()
    outcome = verify()
    assert not outcome.report.ok and outcome.report.broken_id == written[-1].id
    full = verify(full=True)
    assert not full.report.ok and full.report.broken_id == written[-1].id


def test_old_unkeyed_rows_still_verify_and_cannot_follow_keyed_ones(checkpoints) -> None:
    """Rows written before migration 0017 (scheme 1) verify; the keyed rows chain to them."""
    written = events(4)
    rewrite_chain(written[0], sha256, LEGACY)  # the history before the migration
    db.expire_all()
    later = events(3)
    assert [r.hash_scheme for r in rows()] == [LEGACY] * 4 + [KEYED] * 3
    assert later[0].prev_hash == db.get(AuditEvent, written[-1].id).hash
    assert verify(full=True).report.ok and verify().report.ok
    # a forged unkeyed row appended after keyed ones
    forged = AuditEvent(created_at=later[-1].created_at, actor_label="faussaire",
                        action="admin.user.cree", target_type="user", target_id="1",
                        prev_hash=later[-1].hash, hash_scheme=LEGACY)
    forged.hash = compute_hash(forged)
    db.add(forged)
    db.flush()
    assert_detected(at=forged.id, says="sans clé après des lignes signées")


def test_a_row_edited_in_place_is_found_by_the_full_walk(checkpoints) -> None:
    """The limit of the incremental check, on purpose: a row before the checkpoint edited
    without touching any hash is the nightly full walk's to find."""
    written = events(4)
    verify(write=True)
    with audit_triggers_disabled(db):
        db.execute(update(AuditEvent).where(AuditEvent.id == written[1].id)
                   .values(action="falsifie"))
    assert verify().report.ok
    full = verify(full=True)
    assert not full.report.ok and full.report.broken_id == written[1].id


def test_the_incremental_check_reads_only_the_rows_after_the_checkpoint(
        checkpoints, connection) -> None:
    events(60)
    first = verify(write=True)
    assert first.report.fetched == 60 and first.written.events == 60
    new = events(9)
    statements: list[str] = []

    def remember(_conn, _cursor, statement, *_args) -> None:
        if "audit_event" in statement:
            statements.append(" ".join(statement.split()))

    event.listen(connection, "before_cursor_execute", remember)
    try:
        outcome = verify(write=True)
    finally:
        event.remove(connection, "before_cursor_execute", remember)
    report = outcome.report
    assert report.ok and report.checked == 9, outcome.lines
    assert report.fetched == 10  # the checkpoint's own row, then the 9 new ones
    assert outcome.written.event_id == new[-1].id and outcome.written.events == 69
    assert "9 événement(s) vérifié(s) depuis le point de contrôle" in outcome.lines[0]
    # one lookup of the checkpoint's row by id, then keyset pages after it: no statement
    # that could scan the table (no count, no walk from the start)
    assert statements, "no statement seen"
    for statement in statements:
        assert "audit_event.id =" in statement or "audit_event.id >" in statement, statement
        assert "count(" not in statement.lower(), statement
    assert sum("audit_event.id >" in s for s in statements) == 2  # pages of 7: 7 + 2 rows


def test_checkpoint_files_cannot_be_forged_or_renamed(checkpoints) -> None:
    written = events(3)
    verify(write=True)
    path = checkpoints / f"{written[-1].id:015d}.json"
    document = json.loads(path.read_text())
    assert document["event_id"] == written[-1].id and document["signature"]
    assert path.stat().st_mode & 0o077 == 0

    forged = {**document, "event_id": written[0].id, "hash": written[0].hash, "events": 1}
    path.write_text(json.dumps(forged))
    outcome = verify()
    assert not outcome.report.ok and "signature invalide" in outcome.lines[0], outcome.lines
    assert not verify(full=True).report.ok

    path.write_text(json.dumps(document))  # genuine again, but under another name
    path.rename(checkpoints / f"{written[-1].id + 1000:015d}.json")
    outcome = verify()
    assert not outcome.report.ok and "renommé" in outcome.lines[0], outcome.lines


def test_a_checkpoint_signed_with_another_key_is_named_as_such(
        app, checkpoints, monkeypatch) -> None:
    events(2)
    verify(write=True)
    monkeypatch.setitem(app.config, "AUDIT_HMAC_KEY", "x" * 48)
    outcome = verify()
    assert not outcome.report.ok and "signé avec une autre clé" in outcome.lines[0]


def test_each_checkpoint_is_logged(checkpoints, caplog) -> None:
    written = events(2)
    with caplog.at_level(logging.INFO, logger="backoffice.audit.checkpoint"):
        verify(write=True)
        verify(write=True)  # nothing new: no second checkpoint, no second line
    lines = [r for r in caplog.records if r.name == "backoffice.audit.checkpoint"]
    assert len(lines) == 1
    logged = json.loads(lines[0].getMessage().removeprefix("audit checkpoint "))
    stored = json.loads((checkpoints / f"{written[-1].id:015d}.json").read_text())
    assert logged == stored and logged["hash"] == written[-1].hash


def test_checkpoints_beyond_a_restored_database_are_set_aside(checkpoints) -> None:
    first = events(2)
    verify(write=True)
    second = events(2)
    verify(write=True)
    with audit_triggers_disabled(db):  # as a restore of the earlier backup would leave it
        db.execute(delete(AuditEvent).where(AuditEvent.id >= second[0].id))
    assert not verify().report.ok
    store = CheckpointStore(checkpoints, audit_key())
    moved = store.set_aside_after(first[-1].id)
    assert [p.name for p in moved] == [f"{second[-1].id:015d}.json"]
    assert moved[0].is_file() and "ecartes" in moved[0].parts
    assert verify().report.ok and verify(full=True).report.ok


def test_the_key_comes_from_the_environment_in_production(app, monkeypatch) -> None:
    monkeypatch.delitem(app.config, "AUDIT_HMAC_KEY", raising=False)
    monkeypatch.delenv("AUDIT_HMAC_KEY", raising=False)
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    with app.app_context(), pytest.raises(AuditKeyError, match="AUDIT_HMAC_KEY"):
        audit_key()
    problem = audit.audit_key_problem(app.config)
    assert problem and "AUDIT_HMAC_KEY manque" in problem
    assert "trop courte" in audit.audit_key_problem({"ENV_NAME": "production",
                                                     "AUDIT_HMAC_KEY": "court"})
    assert audit.audit_key_problem({"ENV_NAME": "production", "AUDIT_HMAC_KEY": "k" * 40}) is None
    monkeypatch.setenv("AUDIT_HMAC_KEY", "e" * 40)
    with app.app_context():
        assert audit_key() == b"e" * 40


def test_the_embedded_key_is_generated_once_into_the_instance_folder(
        app, tmp_path, monkeypatch) -> None:
    monkeypatch.delitem(app.config, "AUDIT_HMAC_KEY", raising=False)
    monkeypatch.delenv("AUDIT_HMAC_KEY", raising=False)
    monkeypatch.setitem(app.config, "INSTANCE_DIR", str(tmp_path))
    with app.app_context():
        key = audit_key()
        assert key == audit_key() and len(key) >= 48
    path = tmp_path / "audit_hmac_key"
    assert path.read_text().strip().encode() == key
    assert oct(path.stat().st_mode)[-3:] == "600"
