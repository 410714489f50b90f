"""Backup and restore of the database and the file store (`flask sauvegarder`,
`flask restaurer`; procedure in docs/operations.md).

A backup is one directory, or a tar archive of it (DEST ending in .tar, .tar.gz or .tgz):

    manifest.json      format, date, backend, Alembic revision, row count of every table,
                       head of the audit chain, every file with its size and SHA-256
    database.dump      PostgreSQL: pg_dump --format=custom
    database.sqlite3   SQLite: a copy made with SQLite's online backup API
    storage/           the file store (STORAGE_DIR, quarantine folder included; tmp/ excepted)

The database is saved first, then the files. A stored file never changes and its key is
never reused (uuid4, written under tmp/ and renamed into place), so every file the saved
database refers to is already in the store when the copy starts; files uploaded meanwhile
are copied too and come back as harmless orphans. The one race left is a file deleted (by
the support desk, or quarantined) between the two steps: the manifest lists it under
"missing_files" and both commands say so. The reverse order would lose every file uploaded
between the copy and the dump, which is the common case.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess  # nosec B404
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from zoneinfo import ZoneInfo

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import func, inspect, literal, select, table, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.orm import Session

from backoffice.audit import verify_chain
from backoffice.db import make_engine
from backoffice.migrate import alembic_config
from backoffice.models import AuditEvent, Fichier, Seance
from backoffice.storage import format_count, format_size
from backoffice.storage.local import DIR_MODE, TMP_DIR

FORMAT = 1
MANIFEST = "manifest.json"
STORAGE = "storage"
DATABASE_FILES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
BACKENDS = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
TarMode = Literal["w", "w:gz"]
TAR_MODES: dict[str, TarMode] = {".tar": "w", ".tar.gz": "w:gz", ".tgz": "w:gz"}
CHUNK = 1024 * 1024
PARIS = ZoneInfo("Europe/Paris")


class BackupError(Exception):
    """A backup or a restore that cannot go on; `message` is for the operator, in French."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


# --- what a database holds --------------------------------------------------------------


def database_facts(conn: Connection) -> dict[str, Any]:
    """Alembic revision, row count of every table, audit chain length and head."""
    names = sorted(inspect(conn).get_table_names())
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar() \
        if "alembic_version" in names else None
    counts = {name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
              for name in names if name != "alembic_version"}
    head = conn.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar() \
        if "audit_event" in names else None
    return {"alembic_revision": revision, "tables": counts,
            "audit": {"events": counts.get("audit_event", 0), "head": head}}


def referenced_keys(conn: Connection) -> set[str]:
    """Storage keys whose bytes the database expects in the store (deleted and quarantined
    files excepted)."""
    keys = set(conn.execute(select(Fichier.storage_key).where(
        Fichier.deleted_at.is_(None), Fichier.scan_status != "infecte")).scalars())
    keys.update(key for key in conn.execute(select(Seance.pv_storage_key).where(
        Seance.pv_storage_key.is_not(None))).scalars() if key is not None)
    return keys


def _non_empty_tables(engine: Engine) -> list[str]:
    """Tables holding something a restore would lose: not the schema's version, not the
    reference data `make db` loads (the restore drill runs it first; the backup's own
    reference data replaces it)."""
    from backoffice.reference import TABLES

    ignored = {"alembic_version", *TABLES}
    with engine.connect() as conn:
        names = sorted(n for n in inspect(conn).get_table_names() if n not in ignored)
        return [name for name in names
                if conn.execute(select(literal(1)).select_from(table(name)).limit(1)).first()]


# --- database engines -------------------------------------------------------------------


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI for pg_dump/pg_restore; the password goes through PGPASSWORD, never argv."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _run(tool: str, args: list[str], env: dict[str, str]) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise BackupError(f"{tool} est introuvable : installez le client PostgreSQL (de la même "
                          "version majeure que le serveur, ou plus récente).")
    # pg_dump or pg_restore, a fixed argument list and no shell: the only variable parts are
    # paths and the database URI of the application's own configuration (password in env).
    result = subprocess.run([executable, *args], env=env,  # noqa: S603  # nosec B603
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{tool} a échoué (code {result.returncode}) : "
                          f"{result.stderr.strip()[-2000:]}")


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError("Seule une base SQLite dans un fichier peut être sauvegardée ou "
                          "restaurée.")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy even while the application writes; the
    target's previous content, if any, is replaced as a whole."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _save_postgresql(engine: Engine, out: Path) -> tuple[dict[str, Any], set[str]]:
    uri, env = _libpq(engine.url)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, \
            conn.begin():
        # pg_dump reads the very snapshot this transaction reads the facts from.
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        facts, keys = database_facts(conn), referenced_keys(conn)
        _run("pg_dump", ["--format=custom", f"--snapshot={snapshot}", f"--file={out}",
                         f"--dbname={uri}"], env)
    return facts, keys


def _save_sqlite(engine: Engine, out: Path) -> tuple[dict[str, Any], set[str]]:
    source = _sqlite_path(engine.url)
    if not source.is_file():
        raise BackupError(f"Base SQLite introuvable : {source}.")
    _sqlite_copy(source, out)
    copy = make_engine(f"sqlite:///{out}")  # the facts come from the copy itself
    try:
        with copy.connect() as conn:
            return database_facts(conn), referenced_keys(conn)
    finally:
        copy.dispose()


def _restore_postgresql(engine: Engine, dump: Path) -> None:
    uri, env = _libpq(engine.url)
    engine.dispose()  # no pooled connection keeps the old tables' metadata
    _run("pg_restore", ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                        "--single-transaction", "--exit-on-error", f"--dbname={uri}",
                        str(dump)], env)


def _restore_sqlite(engine: Engine, copy: Path) -> None:
    target = _sqlite_path(engine.url)
    engine.dispose()
    target.parent.mkdir(parents=True, exist_ok=True)
    _sqlite_copy(copy, target)


SAVE: dict[str, Callable[[Engine, Path], tuple[dict[str, Any], set[str]]]] = {
    "postgresql": _save_postgresql, "sqlite": _save_sqlite}
RESTORE: dict[str, Callable[[Engine, Path], None]] = {
    "postgresql": _restore_postgresql, "sqlite": _restore_sqlite}


def _backend(engine: Engine) -> str:
    if engine.dialect.name not in BACKENDS:
        raise BackupError(f"Base {engine.dialect.name} non prise en charge.")
    return engine.dialect.name


# --- files ------------------------------------------------------------------------------


def _stored_files(root: Path) -> list[Path]:
    """Regular files under the store, temporary uploads (tmp/) and symbolic links excepted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow links
        if Path(dirpath) == root and TMP_DIR in dirnames:
            dirnames.remove(TMP_DIR)
        found += [Path(dirpath, n) for n in filenames if not Path(dirpath, n).is_symlink()]
    return sorted(found)


def _digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fp:
        while chunk := fp.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _copy(source: Path, target: Path, mode: int) -> tuple[int, str]:
    """Copy a file, hashing the bytes on the way; the target must not exist."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with source.open("rb") as src, os.fdopen(fd, "wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def _copy_store(storage_dir: Path, dest: Path) -> list[dict[str, Any]]:
    """Copy every stored file into the backup; record path, size, SHA-256 and mode."""
    files: list[dict[str, Any]] = []
    for path in _stored_files(storage_dir) if storage_dir.is_dir() else []:
        relative = path.relative_to(storage_dir).as_posix()
        target = dest / relative
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            size, sha256 = _copy(path, target, 0o600)
        except FileNotFoundError:
            continue  # deleted since it was listed: if the database expects it, see "missing"
        files.append({"path": relative, "size": size, "sha256": sha256, "mode": mode})
    return files


def _relative(path: object) -> PurePosixPath:
    """A manifest path, refused if it could point outside the folder it is restored to."""
    pure = PurePosixPath(str(path))
    if not isinstance(path, str) or "\\" in path or pure.is_absolute() or not pure.parts or \
            any(part in ("", ".", "..") for part in pure.parts):
        raise BackupError(f"{MANIFEST} contient un chemin refusé : {path!r}.")
    return pure


# --- backup -----------------------------------------------------------------------------


def create_backup(dest: Path, *, engine: Engine, storage_dir: Path) -> dict[str, Any]:
    """Write a backup to `dest` (a new directory, or a tar archive by its suffix); return
    its manifest. Nothing appears at `dest` unless the whole backup succeeded."""
    dest = Path(dest)
    if dest.exists():
        raise BackupError(f"{dest} existe déjà : une sauvegarde n'en remplace jamais une autre.")
    if not dest.parent.is_dir():
        raise BackupError(f"Le dossier {dest.parent} n'existe pas.")
    tar_mode = next((m for suffix, m in TAR_MODES.items() if dest.name.endswith(suffix)), None)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partiel", dir=dest.parent))
    try:
        manifest = _write_backup(work, engine, Path(storage_dir))
        if tar_mode is None:
            work.rename(dest)
        else:
            _write_tar(work, dest, tar_mode)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return manifest


def _write_backup(work: Path, engine: Engine, storage_dir: Path) -> dict[str, Any]:
    backend = _backend(engine)
    created_at = datetime.now(UTC)
    database = work / DATABASE_FILES[backend]
    facts, referenced = SAVE[backend](engine, database)  # the database first: see above
    database.chmod(0o600)
    size, sha256 = _digest(database)
    files = _copy_store(storage_dir, work / STORAGE)
    manifest = {
        "format": FORMAT,
        "created_at": created_at.isoformat(),
        "backend": backend,
        "alembic_revision": facts["alembic_revision"],
        "database": {"file": database.name, "size": size, "sha256": sha256},
        "tables": facts["tables"],
        "audit": facts["audit"],
        "files": files,
        "missing_files": sorted(referenced - {f["path"] for f in files}),
    }
    fd = os.open(work / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=1, ensure_ascii=False)
    return manifest


def _write_tar(work: Path, dest: Path, mode: TarMode) -> None:
    partial = dest.with_name(f".{dest.name}.partiel")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fp, tarfile.open(fileobj=fp, mode=mode) as tar:
            for child in sorted(work.iterdir()):
                tar.add(child, arcname=child.name)
        partial.rename(dest)
    finally:
        partial.unlink(missing_ok=True)


def backup_summary(dest: Path, manifest: dict[str, Any]) -> list[str]:
    """What `flask sauvegarder` prints."""
    rows = sum(manifest["tables"].values())
    size = sum(f["size"] for f in manifest["files"])
    lines = [
        f"Sauvegarde écrite dans {dest}.",
        f"Base {BACKENDS[manifest['backend']]} (révision {manifest['alembic_revision']}) : "
        f"{format_count(rows)} lignes dans {len(manifest['tables'])} tables, "
        f"{format_count(manifest['audit']['events'])} événements d'audit.",
        f"Stockage : {format_count(len(manifest['files']))} fichiers ({format_size(size)}).",
    ]
    return lines + _missing_lines(manifest)


def _missing_lines(manifest: dict[str, Any]) -> list[str]:
    missing = manifest["missing_files"]
    if not missing:
        return []
    shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
    return [f"Attention : {len(missing)} fichier(s) attendu(s) par la base manquai(en)t dans "
            f"le stockage au moment de la sauvegarde (supprimé(s) pendant la copie, ou perdu(s)"
            f" avant) : {shown}."]


# --- restore ----------------------------------------------------------------------------


@contextmanager
def _unpacked(source: Path) -> Iterator[Path]:
    """The backup's folder: `source` itself, or a tar archive extracted to a temporary one."""
    if source.is_dir():
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="restauration-") as tmp:
        try:
            with tarfile.open(source) as tar:
                # The "data" filter (PEP 706) refuses absolute paths, "..", links leaving the
                # folder and device files.
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise BackupError(f"Archive de sauvegarde illisible ({source}) : {error}.") from error
        yield Path(tmp)


def _read_manifest(root: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BackupError(f"{MANIFEST} introuvable : {root} n'est pas une sauvegarde.") from error
    except (OSError, ValueError) as error:
        raise BackupError(f"{MANIFEST} illisible : {error}.") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"Format de sauvegarde inconnu dans {MANIFEST}.")
    expected = {"backend": str, "database": dict, "tables": dict, "audit": dict, "files": list,
                "missing_files": list, "created_at": str}
    if any(not isinstance(manifest.get(key), kind) for key, kind in expected.items()) or \
            manifest["backend"] not in BACKENDS:
        raise BackupError(f"{MANIFEST} incomplet ou invalide.")
    return manifest


def _check(path: Path, entry: dict[str, Any], label: str) -> None:
    try:
        size, sha256 = _digest(path)
    except (FileNotFoundError, IsADirectoryError) as error:
        raise BackupError(f"Sauvegarde incomplète : {label} manque. Restauration annulée, rien "
                          "n'a été modifié.") from error
    if (size, sha256) != (entry.get("size"), entry.get("sha256")):
        raise BackupError(f"Sauvegarde corrompue : {label} ne correspond pas au manifeste "
                          "(taille ou SHA-256). Restauration annulée, rien n'a été modifié.")


def verify_backup(root: Path, manifest: dict[str, Any]) -> None:
    """Check every byte a restore would use against the manifest (BackupError otherwise)."""
    database = manifest["database"]
    if database.get("file") != DATABASE_FILES[manifest["backend"]]:
        raise BackupError(f"{MANIFEST} incomplet ou invalide.")
    _check(root / database["file"], database, "la base de données")
    for entry in manifest["files"]:
        relative = _relative(entry.get("path") if isinstance(entry, dict) else None)
        _check(root / STORAGE / relative, entry, f"le fichier {relative}")


def _known_revision(revision: str | None) -> str:
    """The code's head revision, after checking that this code knows the backup's one."""
    script = ScriptDirectory.from_config(alembic_config())
    try:
        if revision is None:
            raise CommandError("no revision")
        script.get_revision(revision)
    except CommandError as error:
        raise BackupError(f"La révision de schéma de la sauvegarde ({revision}) est inconnue de "
                          "cette version de l'application : restaurez avec la version qui l'a "
                          "écrite, ou une plus récente.") from error
    head = script.get_current_head()
    if head is None:  # only a code without migrations
        raise BackupError("Cette version de l'application ne connaît aucune révision de "
                          "schéma : impossible de restaurer.")
    return head


def _restore_files(root: Path, manifest: dict[str, Any], storage_dir: Path) -> None:
    for entry in manifest["files"]:
        relative = _relative(entry["path"])
        target = storage_dir / relative
        target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.restauration")
        partial.unlink(missing_ok=True)
        _copy(root / STORAGE / relative, partial, 0o600)
        partial.chmod(int(entry.get("mode", 0o640)) & 0o777)
        os.replace(partial, target)
        _check(target, entry, f"le fichier restauré {relative}")


def restore_backup(source: Path, *, engine: Engine, storage_dir: Path,
                   force: bool = False) -> list[str]:
    """Restore a backup into the configured database and file store; return the summary.
    The backup is verified whole before anything is touched."""
    storage_dir = Path(storage_dir)
    backend = _backend(engine)
    with _unpacked(Path(source)) as root:
        manifest = _read_manifest(root)
        if manifest["backend"] != backend:
            raise BackupError(
                f"Cette sauvegarde est celle d'une base {BACKENDS[manifest['backend']]} ; la base "
                f"configurée est {BACKENDS[backend]}. Restaurez vers le même type de base.")
        head = _known_revision(manifest.get("alembic_revision"))
        verify_backup(root, manifest)
        lines = [_verified_line(manifest)]
        busy = _non_empty_tables(engine)
        stored = _stored_files(storage_dir) if storage_dir.is_dir() else []
        if (busy or stored) and not force:
            raise BackupError(_not_empty_message(busy, stored, storage_dir))
        RESTORE[backend](engine, root / manifest["database"]["file"])
        _restore_files(root, manifest, storage_dir)
    return lines + _check_restored(engine, manifest, head, storage_dir)


def _check_restored(engine: Engine, manifest: dict[str, Any], head: str,
                    storage_dir: Path) -> list[str]:
    with engine.connect() as conn:
        facts = database_facts(conn)
    differing = sorted(name for name, count in manifest["tables"].items()
                       if facts["tables"].get(name) != count)
    if differing:
        raise BackupError("La base restaurée ne correspond pas à la sauvegarde (nombre de lignes "
                          f"différent dans : {', '.join(differing)}).")
    with Session(bind=engine) as session:
        chain = verify_chain(session)
    if not chain.ok:
        raise BackupError(f"Journal d'audit rompu après restauration, à l'événement "
                          f"{chain.broken_id} : {chain.reason}.")
    if facts["audit"]["head"] != manifest["audit"]["head"]:
        raise BackupError("Le journal d'audit restauré ne se termine pas par l'empreinte "
                          "enregistrée dans la sauvegarde.")
    rows = sum(manifest["tables"].values())
    size = sum(f["size"] for f in manifest["files"])
    lines = [
        f"Base {BACKENDS[manifest['backend']]} restaurée : {format_count(rows)} lignes dans "
        f"{len(manifest['tables'])} tables.",
        f"Fichiers restaurés dans {storage_dir} : {format_count(len(manifest['files']))} "
        f"({format_size(size)}), empreintes SHA-256 vérifiées.",
        f"Journal d'audit intact : {format_count(chain.checked)} événements, dernière empreinte "
        f"{(facts['audit']['head'] or '—')[:16]}… identique à la sauvegarde.",
    ]
    if facts["alembic_revision"] != head:
        lines.append(f"Schéma à la révision {facts['alembic_revision']} : lancez "
                     f"`flask --app backoffice init-db` pour le mettre à jour ({head}).")
    return lines + _missing_lines(manifest)


def _verified_line(manifest: dict[str, Any]) -> str:
    created = datetime.fromisoformat(manifest["created_at"]).astimezone(PARIS)
    return (f"Sauvegarde du {created:%d/%m/%Y à %H:%M} (heure de Paris) vérifiée : base "
            f"{BACKENDS[manifest['backend']]}, {format_count(len(manifest['files']))} fichiers.")


def _not_empty_message(tables: list[str], files: list[Path], storage_dir: Path) -> str:
    parts = []
    if tables:
        shown = ", ".join(tables[:5]) + (" …" if len(tables) > 5 else "")
        parts.append(f"la base cible n'est pas vide (tables {shown})")
    if files:
        parts.append(f"le stockage {storage_dir} contient déjà {len(files)} fichier(s)")
    return (f"Restauration refusée : {' et '.join(parts)}. La restauration remplacerait ce "
            "contenu : relancez avec --force si c'est voulu.")
