"""flask sauvegarder / flask restaurer on each backend: a seeded application is backed up
(database + file store), restored into an empty database and an empty store, and the
restored application answers over HTTP; a corrupted backup is refused."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from backoffice import create_app
from backoffice.db import db
from backoffice.models import (
    AuditEvent,
    Candidature,
    Certificat,
    Fichier,
    Message,
    Piece,
    Preuve,
    Seance,
    User,
)
from backoffice.queues.candidatures import visible_demarches
from tests.conftest import (
    BACKENDS,
    TEST_DATABASE_URL,
    IsolatedClient,
    base_config,
    fresh_database_url,
    reset_postgres_database,
)
from tests.helpers import login

MAIN_TABLES = (Candidature, Fichier, Piece, Preuve, Message, User, AuditEvent, Certificat, Seance)


def run(app: Flask, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


# The secrets are not in a backup: the restoring host has the same audit key as the one
# that wrote the trail, from its environment (docs/operations.md, "Restoring").
AUDIT_KEY = "backup-test-audit-key-0123456789abcdef"


def new_app(tmp: Path, url: str, audit_key: str = AUDIT_KEY) -> Flask:
    tmp.mkdir(parents=True, exist_ok=True)
    return create_app({**base_config(tmp, url), "AUDIT_HMAC_KEY": audit_key})


@dataclass
class Source:
    app: Flask
    backend: str
    credentials: dict[str, Any]
    tmp: Path


@pytest.fixture(scope="module", params=BACKENDS)
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A seeded application (the demo data: candidatures spread over the steps, real PDFs
    and zips, preuves, a séance), with one file deleted by the support desk."""
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"backup-source-{backend}")
    app = new_app(tmp, fresh_database_url(backend, tmp, "backup_source"))
    assert run(app, "seed-demo", "--candidatures", "14").exit_code == 0
    credentials = json.loads((tmp / "demo-credentials.json").read_text())
    with app.app_context():
        _delete_one_file_at_the_support_desk()
    yield Source(app, backend, credentials, tmp)
    app.extensions["db_engine"].dispose()


def _delete_one_file_at_the_support_desk() -> None:
    """A tombstone: the row stays, its bytes are gone on purpose (not a missing file)."""
    from backoffice.workflow import support
    from backoffice.workflow.base import TransitionError

    agent = db.scalar(select(User).where(User.email.like("support@%")))
    for fichier in db.scalars(select(Fichier).where(Fichier.uploaded_by_user_id.is_(None))
                              .order_by(Fichier.id)):
        try:
            support.supprimer_fichier(fichier, actor=agent, motif="Déposé par erreur",
                                      demande="SUP-2026-0001")
        except TransitionError:  # an ANS document, a validated round: try the next one
            db.rollback()
            continue
        db.commit()
        return
    raise AssertionError("no file could be deleted by the support desk")


def snapshot(app: Flask) -> dict[str, Any]:
    """Row counts of the main tables, the audit chain's head, every live file's sha256 as
    read from the store."""
    with app.app_context():
        counts = {m.__tablename__: db.scalar(select(func.count()).select_from(m))
                  for m in MAIN_TABLES}
        head = db.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
        root = Path(app.config["STORAGE_DIR"])
        files = {}
        for fichier in db.scalars(select(Fichier).where(Fichier.deleted_at.is_(None))):
            files[fichier.storage_key] = (fichier.sha256, hashlib.sha256(
                (root / fichier.storage_key).read_bytes()).hexdigest())
        for key, sha256 in db.execute(select(Seance.pv_storage_key, Seance.pv_sha256)
                                      .where(Seance.pv_storage_key.is_not(None))):
            files[key] = (sha256, hashlib.sha256((root / key).read_bytes()).hexdigest())
        db.remove()
    return {"counts": counts, "audit_head": head, "files": files}


def stored_files(app: Flask) -> list[Path]:
    root = Path(app.config["STORAGE_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def row_count(app: Flask) -> int:
    with app.app_context():
        total = sum(db.scalar(select(func.count()).select_from(m)) for m in MAIN_TABLES)
        db.remove()
    return total


@pytest.fixture
def backup(source: Source, tmp_path: Path) -> Path:
    dest = tmp_path / "sauvegarde-2026-03-01"
    result = run(source.app, "sauvegarder", str(dest))
    assert result.exit_code == 0, result.output
    return dest


def target(source: Source, tmp_path: Path, name: str, *, migrated: bool = True,
           audit_key: str = AUDIT_KEY) -> Flask:
    """A second application: a new database (empty, migrated or blank) and an empty store."""
    (tmp_path / name).mkdir()
    if migrated:
        url = fresh_database_url(source.backend, tmp_path / name, f"backup_{name}")
    elif source.backend == "sqlite":
        url = f"sqlite:///{tmp_path / name / 'vierge.sqlite3'}"
    else:
        url = reset_postgres_database(TEST_DATABASE_URL,
                                      f"backoffice_test_backup_{name}_{os.getpid()}")
    return new_app(tmp_path / name, url, audit_key)


def test_backup_and_restore_into_an_empty_database(source: Source, backup: Path,
                                                   tmp_path: Path) -> None:
    manifest = json.loads((backup / "manifest.json").read_text())
    expected = snapshot(source.app)
    assert manifest["backend"] == source.backend and manifest["alembic_revision"]
    assert manifest["audit"]["head"] == expected["audit_head"]
    assert manifest["missing_files"] == []  # the support desk's deletion is no loss
    live_keys = set(expected["files"])
    assert live_keys <= {f["path"] for f in manifest["files"]}
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700  # uploads and account data inside
    assert (backup / ("database.dump" if source.backend == "postgresql"
                      else "database.sqlite3")).is_file()

    restored = target(source, tmp_path, "cible")
    try:
        result = run(restored, "restaurer", str(backup))
        assert result.exit_code == 0, result.output
        assert "Journal d'audit intact" in result.output
        assert "empreintes SHA-256 vérifiées" in result.output
        got = snapshot(restored)
        assert got["counts"] == expected["counts"]
        assert got["audit_head"] == expected["audit_head"]
        assert got["files"] == expected["files"]
        assert all(recorded == actual for recorded, actual in got["files"].values())
        assert "OK" in run(restored, "verify-audit").output
        _serves_a_dossier_and_a_download(restored, source.credentials)

        # Restoring again over what is now a non-empty database is refused…
        before = snapshot(restored)
        refused = run(restored, "restaurer", str(backup))
        assert refused.exit_code == 1
        assert "Restauration refusée : la base cible n'est pas vide" in refused.output
        assert "--force" in refused.output
        assert snapshot(restored) == before
        # … unless asked for.
        forced = run(restored, "restaurer", "--force", str(backup))
        assert forced.exit_code == 0, forced.output
        assert snapshot(restored) == expected
    finally:
        restored.extensions["db_engine"].dispose()


def _serves_a_dossier_and_a_download(app: Flask, credentials: dict[str, Any]) -> None:
    """A vérificateur of the demo signs in to the restored application and opens a dossier
    and one of its files."""
    account = next(a for a in credentials["accounts"] if a["role"] == "verificateur")
    app.test_client_class = IsolatedClient
    client = app.test_client()
    with app.app_context():
        user = db.scalar(select(User).where(User.email == account["email"]))
        login(client, user, account["password"])
        fichier = db.scalar(
            select(Fichier).join(Candidature, Candidature.id == Fichier.candidature_id)
            .where(Candidature.demarche_code.in_(visible_demarches(user)),
                   Fichier.deleted_at.is_(None), Fichier.kind == "pdf")
            .order_by(Fichier.id).limit(1))
        reference = db.get(Candidature, fichier.candidature_id).reference
        page = client.get(f"/instruction/candidatures/{reference}?onglet=pieces")
        assert page.status_code == 200
        assert reference in page.get_data(as_text=True)
        download = client.get(f"/instruction/fichiers/{fichier.id}")
        assert download.status_code == 200
        assert hashlib.sha256(download.data).hexdigest() == fichier.sha256
        db.remove()


def test_a_tar_backup_restores_into_a_blank_database(source: Source, tmp_path: Path) -> None:
    archive = tmp_path / "sauvegarde.tar.gz"
    result = run(source.app, "sauvegarder", str(archive))
    assert result.exit_code == 0, result.output
    assert f"Sauvegarde écrite dans {archive}." in result.output
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["sauvegarde.tar.gz"]  # no leftovers
    restored = target(source, tmp_path, "vierge", migrated=False)  # not even a schema
    try:
        result = run(restored, "restaurer", str(archive))
        assert result.exit_code == 0, result.output
        assert snapshot(restored) == snapshot(source.app)
    finally:
        restored.extensions["db_engine"].dispose()


def test_a_restore_needs_the_audit_key_that_wrote_the_trail(source: Source, backup: Path,
                                                            tmp_path: Path) -> None:
    restored = target(source, tmp_path, "autre_cle", migrated=False,
                      audit_key="une-autre-cle-que-celle-du-journal-0123")
    try:
        result = run(restored, "restaurer", str(backup))
        assert result.exit_code == 1
        assert "Journal d'audit rompu après restauration" in result.output
        assert "AUDIT_HMAC_KEY n'est pas la clé qui a écrit le journal" in result.output
    finally:
        restored.extensions["db_engine"].dispose()


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["file_byte", "database_byte", "file_removed"])
def test_a_corrupted_backup_is_refused_and_nothing_is_touched(
        source: Source, backup: Path, tmp_path: Path, damage: str) -> None:
    manifest = json.loads((backup / "manifest.json").read_text())
    victim = next(f["path"] for f in manifest["files"] if f["size"] > 100)
    if damage == "file_byte":
        _flip_a_byte(backup / "storage" / victim)
        message = f"Sauvegarde corrompue : le fichier {victim} ne correspond pas au manifeste"
    elif damage == "database_byte":
        _flip_a_byte(backup / manifest["database"]["file"])
        message = "Sauvegarde corrompue : la base de données ne correspond pas au manifeste"
    else:
        (backup / "storage" / victim).unlink()
        message = f"Sauvegarde incomplète : le fichier {victim} manque"
    restored = target(source, tmp_path, "cible")
    try:
        result = run(restored, "restaurer", str(backup))
        assert result.exit_code == 1
        assert message in result.output
        assert "rien n'a été modifié" in result.output
        assert row_count(restored) == 0 and stored_files(restored) == []
    finally:
        restored.extensions["db_engine"].dispose()


def test_uploads_and_deletions_racing_the_backup(
        source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the database dump and the file copy, a vendor uploads a file and the support
    desk deletes one: the new file is an orphan in the backup, the deleted one is reported
    missing; the restore still succeeds and says so."""
    import io

    from backoffice import backup as backup_module
    from backoffice.storage import KINDS_DOCUMENT, LocalStorage

    store = LocalStorage(source.app.config["STORAGE_DIR"])
    with source.app.app_context():
        doomed = db.scalar(select(Fichier.storage_key).where(Fichier.deleted_at.is_(None))
                           .order_by(Fichier.id.desc()).limit(1))
        db.remove()
    doomed_bytes = store.path(doomed).read_bytes()
    copy_store = backup_module._copy_store
    late: list[str] = []

    def racing(storage_dir: Path, dest: Path) -> list[dict[str, Any]]:
        late.append(store.save(io.BytesIO(b"%PDF-1.7\n%%EOF\n"), max_size=1000,
                               allowed=KINDS_DOCUMENT).key)
        store.delete(doomed)
        return copy_store(storage_dir, dest)

    monkeypatch.setattr(backup_module, "_copy_store", racing)
    dest = tmp_path / "sauvegarde"
    try:
        result = run(source.app, "sauvegarder", str(dest))
    finally:
        store.path(doomed).write_bytes(doomed_bytes)  # the module's source stays whole
        for key in late:
            store.delete(key)
    assert result.exit_code == 0, result.output
    assert "Attention : 1 fichier(s) attendu(s) par la base manquai(en)t" in result.output
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["missing_files"] == [doomed]
    assert late[0] in {f["path"] for f in manifest["files"]}
    restored = target(source, tmp_path, "cible")
    try:
        restore = run(restored, "restaurer", str(dest))
        assert restore.exit_code == 0, restore.output
        assert doomed in restore.output
        assert (Path(restored.config["STORAGE_DIR"]) / late[0]).is_file()  # a harmless orphan
    finally:
        restored.extensions["db_engine"].dispose()


def test_a_backup_never_overwrites_anything(source: Source, backup: Path) -> None:
    before = sorted(p.relative_to(backup) for p in backup.rglob("*"))
    result = run(source.app, "sauvegarder", str(backup))
    assert result.exit_code == 1
    assert "existe déjà : une sauvegarde n'en remplace jamais une autre" in result.output
    assert sorted(p.relative_to(backup) for p in backup.rglob("*")) == before


def test_a_manifest_path_leaving_the_store_is_refused(source: Source, backup: Path,
                                                      tmp_path: Path) -> None:
    manifest_path = backup / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    evil = backup / "storage" / "evil"
    evil.write_bytes(b"x")
    manifest["files"].append({"path": "../../../../tmp/evil", "size": 1, "mode": 0o644,
                              "sha256": hashlib.sha256(b"x").hexdigest()})
    manifest_path.write_text(json.dumps(manifest))
    restored = target(source, tmp_path, "cible")
    try:
        result = run(restored, "restaurer", str(backup))
        assert result.exit_code == 1
        assert "manifest.json contient un chemin refusé" in result.output
        assert row_count(restored) == 0 and stored_files(restored) == []
    finally:
        restored.extensions["db_engine"].dispose()
