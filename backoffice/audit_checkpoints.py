"""Checkpoints of the audit chain: the verified head, written where the database cannot
rewrite it (docs/security.md, "Audit trail"; docs/operations.md, "Audit trail").

A checkpoint says "up to event N, whose hash is H, the chain held E events and verified",
signed with an HMAC of the audit key (so the database's owner, who has no key, can neither
forge one nor recompute a chain that would still match one). It is written twice:

- a file `<AUDIT_CHECKPOINT_DIR>/<N, 15 digits>.json` (mode 600, written under a temporary
  name then linked into place, never overwritten), by default under the file store so that
  it is shared by the hosts and saved by `flask sauvegarder`;
- one line of the application log, logger `backoffice.audit.checkpoint`: the log leaves the
  host (syslog, journald forwarding…), so a copy survives even someone who can rewrite both
  the database and the checkpoint folder.

`verify_since_latest` reads the latest checkpoint, checks its row still has its hash, then
walks the rows after it only. Deleting the newest rows (the checkpoint's row is gone, or
another row now has its id) or recomputing the chain (the checkpoint's hash no longer at
its id; a valid keyed hash needs the key) fails there. Rows appended after the latest
checkpoint are protected by the next one: checkpoint often (the `audit.checkpoint` job).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backoffice.audit import (
    COLUMNS,
    GENESIS,
    KEYED,
    LEGACY,
    MODIFIED,
    SCHEMES,
    ChainReport,
    audit_key,
    compute_hash,
    derived_key,
    key_id,
    walk,
)
from backoffice.db import db
from backoffice.filters import datetime_fr
from backoffice.models import AuditEvent
from backoffice.storage.errors import format_count

log = logging.getLogger("backoffice.audit.checkpoint")

FORMAT = 1
DEFAULT_DIR = "audit-checkpoints"  # under STORAGE_DIR unless AUDIT_CHECKPOINT_DIR is set
SET_ASIDE_DIR = "ecartes"  # checkpoints beyond a restored database, kept for the record
SUFFIX = ".json"


def directory(app: Flask | None = None) -> Path:
    # current_app is a LocalProxy, typed as the Flask it stands for
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    configured = app.config.get("AUDIT_CHECKPOINT_DIR") or os.environ.get("AUDIT_CHECKPOINT_DIR")
    return Path(configured) if configured else Path(app.config["STORAGE_DIR"]) / DEFAULT_DIR


@dataclass(frozen=True)
class Checkpoint:
    event_id: int
    hash: str
    events: int  # rows of the chain up to and including event_id
    hash_scheme: int
    created_at: str  # ISO 8601, UTC
    key_id: str

    @property
    def when(self) -> str:
        return datetime_fr(datetime.fromisoformat(self.created_at))

    def describe(self) -> str:
        return f"point de contrôle du {self.when} (événement {self.event_id})"


class CheckpointError(Exception):
    """An unreadable, forged or misplaced checkpoint file; `message` is French."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def _name(event_id: int) -> str:
    return f"{event_id:015d}{SUFFIX}"


class CheckpointStore:
    def __init__(self, root: Path, key: bytes) -> None:
        self.root = Path(root)
        self._sign_key = derived_key(key, "checkpoint")
        self._key_id = key_id(key)

    def sign(self, payload: dict[str, Any]) -> str:
        return hmac.new(self._sign_key, _canonical(payload), hashlib.sha256).hexdigest()

    # reading

    def paths(self) -> list[Path]:
        """Checkpoint files, oldest first (their names are the zero-padded event ids)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir()
                      if p.suffix == SUFFIX and not p.name.startswith(".") and p.is_file())

    def read(self, path: Path) -> Checkpoint:
        where = f"point de contrôle {path.name}"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CheckpointError(f"{where} illisible : {error}.") from error
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(f"{where} : format inconnu.")
        signature = data.pop("signature", None)
        try:
            checkpoint = Checkpoint(**{k: v for k, v in data.items() if k != "format"})
        except TypeError as error:
            raise CheckpointError(f"{where} : champs invalides.") from error
        if checkpoint.key_id != self._key_id:
            raise CheckpointError(
                f"{where} signé avec une autre clé (identifiant {checkpoint.key_id}, clé "
                f"configurée {self._key_id}) : AUDIT_HMAC_KEY n'est pas celle qui a écrit le "
                "journal, ou le fichier a été remplacé.")
        expected = self.sign({"format": FORMAT, **asdict(checkpoint)})
        if not isinstance(signature, str) or not hmac.compare_digest(signature, expected):
            raise CheckpointError(f"{where} : signature invalide (fichier falsifié ou abîmé).")
        if path.name != _name(checkpoint.event_id) or checkpoint.hash_scheme not in SCHEMES:
            raise CheckpointError(f"{where} : ne correspond pas à son contenu (fichier renommé).")
        return checkpoint

    def latest(self) -> Checkpoint | None:
        paths = self.paths()
        return self.read(paths[-1]) if paths else None

    def all(self) -> list[Checkpoint]:
        return [self.read(path) for path in self.paths()]

    # writing

    def write(self, report: ChainReport, events: int) -> Checkpoint | None:
        """Record the head a successful walk reached; None when there is nothing new (the
        head is already recorded, or the chain is empty)."""
        if not report.ok or report.last_id is None or report.last_hash is None:
            return None
        target = self.root / _name(report.last_id)
        if target.exists():
            return None
        checkpoint = Checkpoint(event_id=report.last_id, hash=report.last_hash, events=events,
                                hash_scheme=report.last_scheme or LEGACY,
                                created_at=datetime.now(UTC).isoformat(), key_id=self._key_id)
        payload = {"format": FORMAT, **asdict(checkpoint)}
        document = {**payload, "signature": self.sign(payload)}
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.root / f".{target.name}.{uuid.uuid4().hex}.partiel"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(partial, target)  # never replaces an existing checkpoint
            except FileExistsError:
                return None  # another worker recorded the same head meanwhile
        finally:
            partial.unlink(missing_ok=True)
        _fsync_dir(self.root)
        log.info("audit checkpoint %s", json.dumps(document, sort_keys=True))
        return checkpoint

    def set_aside_after(self, event_id: int | None) -> list[Path]:
        """After a restore from a backup: the checkpoints of events the restored database no
        longer has are moved to `ecartes/<date>/` (kept, no longer read). Returns them."""
        beyond = [p for p in self.paths() if _event_id_of(p) > (event_id or 0)]
        if not beyond:
            return []
        folder = self.root / SET_ASIDE_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        moved = []
        for path in beyond:
            path.rename(folder / path.name)
            moved.append(folder / path.name)
        return moved


def _event_id_of(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        return 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- verification -----------------------------------------------------------------------


def _failed(reason: str, broken_id: int | None = None, **fields: Any) -> ChainReport:
    return ChainReport(False, 0, broken_id=broken_id, reason=reason, **fields)


def verify_since_latest(session: Session, store: CheckpointStore, key: bytes, *,
                        batch: int = 5000) -> ChainReport:
    """From the latest checkpoint to the head: reads the checkpoint's row and the rows after
    it, nothing else. Without any checkpoint yet, the whole chain."""
    try:
        checkpoint = store.latest()
    except CheckpointError as error:
        return _failed(error.message, full=False)
    if checkpoint is None:
        report = walk(session, key, batch=batch)
        report.events = report.checked
        report.notes.append("aucun point de contrôle encore : chaîne vérifiée en entier")
        return report
    report = ChainReport(True, 0, checkpoint=checkpoint, full=False)
    row = session.execute(select(*COLUMNS).where(AuditEvent.id == checkpoint.event_id)).first()
    if row is None:
        head = session.scalar(select(func.max(AuditEvent.id)))
        return _broken(report, checkpoint.event_id,
                       f"l'événement {checkpoint.event_id} du {checkpoint.describe()} est absent "
                       f"de la base (dernier événement : {head or 'aucun'}) : des événements ont "
                       "été supprimés, ou la base a été restaurée depuis une sauvegarde plus "
                       "ancienne")
    report.fetched = 1
    reason = _checkpoint_row_problem(row, checkpoint, key)
    if reason:
        return _broken(report, row.id, reason)
    report.last_id, report.last_hash, report.last_scheme = row.id, row.hash, row.hash_scheme
    walk(session, key, after_id=row.id, prev_hash=row.hash, scheme_floor=row.hash_scheme,
         batch=batch, report=report)
    report.events = checkpoint.events + report.checked
    return report


def _checkpoint_row_problem(row: Any, checkpoint: Checkpoint, key: bytes) -> str | None:
    if not hmac.compare_digest(row.hash, checkpoint.hash):
        return (f"l'empreinte de l'événement {row.id} n'est plus celle du "
                f"{checkpoint.describe()} : la chaîne a été réécrite ou recalculée, ou des "
                "événements supprimés puis remplacés")
    if row.hash_scheme != checkpoint.hash_scheme or \
            not hmac.compare_digest(compute_hash(row, key), row.hash):
        return MODIFIED
    return None


def _broken(report: ChainReport, row_id: int | None, reason: str) -> ChainReport:
    report.ok, report.broken_id, report.reason = False, row_id, reason
    return report


def verify_full(session: Session, store: CheckpointStore, key: bytes, *,
                batch: int = 5000) -> ChainReport:
    """The whole chain, and every checkpoint against it: the row at its id must carry its
    hash and be the E-th of the chain."""
    try:
        checkpoints = store.all()
    except CheckpointError as error:
        return _failed(error.message)
    by_id = {c.event_id: c for c in checkpoints}
    seen: set[int] = set()
    report = ChainReport(True, 0, checkpoint=checkpoints[-1] if checkpoints else None)

    def on_row(row: Any, position: int) -> str | None:
        checkpoint = by_id.get(row.id)
        if checkpoint is None:
            return None
        seen.add(row.id)
        report.checkpoints_matched += 1
        if not hmac.compare_digest(row.hash, checkpoint.hash):
            return _checkpoint_row_problem(row, checkpoint, key)
        if position != checkpoint.events:
            return (f"le {checkpoint.describe()} comptait {format_count(checkpoint.events)} "
                    f"événements jusqu'à celui-ci, la base en a {format_count(position)} : des "
                    "événements ont été supprimés ou insérés avant")
        return None

    walk(session, key, batch=batch, on_row=on_row, report=report)
    report.events = report.checked
    missing = [c for c in checkpoints if c.event_id not in seen]
    if report.ok and missing:
        first = missing[0]
        return _broken(report, first.event_id,
                       f"l'événement {first.event_id} du {first.describe()} est absent de la "
                       f"base (dernier événement : {report.last_id or 'aucun'}) : des "
                       "événements ont été supprimés, ou la base a été restaurée depuis une "
                       "sauvegarde plus ancienne")
    return report


# --- the command and the job ------------------------------------------------------------


@dataclass
class Outcome:
    report: ChainReport
    written: Checkpoint | None
    lines: list[str]
    write_error: str | None = None


def run_verification(*, full: bool = False, write: bool = True,
                     session: Session | None = None, batch: int = 5000) -> Outcome:
    """Verify (from the latest checkpoint, or `full`), then record the verified head as a
    new checkpoint (`write`). What `flask verify-audit` and the jobs run."""
    session = session or db()
    key = audit_key()
    store = CheckpointStore(directory(), key)
    report = (verify_full if full else verify_since_latest)(session, store, key, batch=batch)
    written, write_error = None, None
    if report.ok and write:
        try:
            written = store.write(report, report.events)
        except OSError as error:
            write_error = f"point de contrôle non écrit dans {store.root} : {error}"
    return Outcome(report, written, _lines(report, written, write_error, store.root),
                   write_error)


def set_aside_after_restore(session: Session | None = None) -> list[str]:
    """`verify-audit --after-restore`: a database restored from a backup legitimately ends
    before the latest checkpoints. They are moved aside (kept), the operation is logged and
    recorded in the trail itself, and the verification then starts from the latest
    checkpoint the restored database still has. Commits."""
    from backoffice import audit

    session = session or db()
    head = session.scalar(select(func.max(AuditEvent.id)))
    store = CheckpointStore(directory(), audit_key())
    moved = store.set_aside_after(head)
    if not moved:
        return [f"Aucun point de contrôle au-delà du dernier événement ({head or 'aucun'})."]
    names = [path.name for path in moved]
    log.warning("audit checkpoints set aside after a restore (head %s): %s", head,
                ", ".join(names))
    audit.record("cli", "audit.points_de_controle_ecartes", "audit_event",
                 after={"dernier_evenement": head, "points_de_controle": names,
                        "dossier": str(moved[0].parent)}, session=session)
    # CLI exception (unitofwork.py): `verify-audit --after-restore`, no request around it
    session.commit()
    return [f"{len(moved)} point(s) de contrôle au-delà de l'événement {head} écarté(s) dans "
            f"{moved[0].parent} (conservés, plus lus) ; opération inscrite au journal."]


def _lines(report: ChainReport, written: Checkpoint | None, write_error: str | None,
           root: Path) -> list[str]:
    if not report.ok:
        if report.broken_id is None:
            return [f"ROMPU : {report.reason}."]
        return [f"ROMPU à l'événement {report.broken_id} : {report.reason} "
                f"({format_count(report.checked)} événements valides avant)."]
    checked = format_count(report.checked)
    if not report.full and report.checkpoint is not None:
        lines = [f"OK : {checked} événement(s) vérifié(s) depuis le "
                 f"{report.checkpoint.describe()}, dont l'empreinte est intacte."]
    elif report.checkpoint is not None:
        lines = [f"OK : {checked} événements vérifiés (chaîne complète), "
                 f"{report.checkpoints_matched} point(s) de contrôle concordant(s)."]
    else:
        lines = [f"OK : {checked} événements vérifiés (chaîne complète ; aucun point de "
                 "contrôle encore)."]
    if written is not None:
        lines.append(f"Point de contrôle écrit : événement {written.event_id}, empreinte "
                     f"{written.hash[:16]}…, {format_count(written.events)} événements "
                     f"({root}).")
    if write_error:
        lines.append(f"Attention : {write_error}.")
    return lines


__all__ = ["GENESIS", "KEYED", "Checkpoint", "CheckpointError", "CheckpointStore",
           "directory", "run_verification", "set_aside_after_restore", "verify_full",
           "verify_since_latest"]
