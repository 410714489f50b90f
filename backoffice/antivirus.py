"""A small client of the ClamAV daemon, speaking its protocol directly over a Unix or TCP
socket (no dependency): `zINSTREAM`, then the file in chunks each prefixed by its length
(4 bytes, big-endian), then a zero-length chunk; clamd answers `stream: OK`,
`stream: <signature> FOUND` or `<reason> ERROR`. The stored file is streamed from the
file store, never loaded whole.

Infected bytes are moved out of the file store into a quarantine folder that nothing
serves (QUARANTINE_DIR, default STORAGE_DIR/quarantaine: storage keys cannot name it)."""

from __future__ import annotations

import os
import shutil
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from backoffice.storage import Readable

CHUNK_SIZE = 64 * 1024
MAX_REPLY = 4096
QUARANTINE_FILE_MODE = 0o600
QUARANTINE_DIR_MODE = 0o700


class ScanError(Exception):
    """The file could not be scanned; the message says why (kept in Fichier.scan_detail)."""


class ScannerUnavailable(ScanError):
    """clamd could not be reached or dropped the connection: worth retrying later."""


class ScanFailed(ScanError):
    """clamd answered with an error (size limit, unreadable stream): retrying the same
    bytes would fail the same way until its configuration changes."""


@dataclass(frozen=True)
class Verdict:
    infected: bool
    signature: str | None = None


class Clamd:
    def __init__(self, *, socket_path: str | None = None, host: str | None = None,
                 port: int = 3310, timeout: float = 300.0) -> None:
        if not socket_path and not host:
            raise ValueError("clamd needs a Unix socket path or a host")
        self.socket_path, self.host, self.port, self.timeout = socket_path, host, port, timeout

    @classmethod
    def from_config(cls, config: Any) -> Clamd | None:
        """The configured daemon, or None when scanning is off."""
        if not (config.get("CLAMD_SOCKET") or config.get("CLAMD_HOST")):
            return None
        return cls(socket_path=config.get("CLAMD_SOCKET"), host=config.get("CLAMD_HOST"),
                   port=int(config.get("CLAMD_PORT") or 3310),
                   timeout=float(config.get("CLAMD_TIMEOUT") or 300))

    def __repr__(self) -> str:
        where = self.socket_path or f"{self.host}:{self.port}"
        return f"Clamd({where})"

    def _connect(self) -> socket.socket:
        try:
            if self.socket_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self.socket_path)
                except BaseException:
                    sock.close()
                    raise
                return sock
            return socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as error:
            raise ScannerUnavailable(f"clamd injoignable ({self!r}) : {error}") from error

    @staticmethod
    def _reply(sock: socket.socket) -> str:
        """One NUL-terminated answer (what clamd sent before closing, if it closed)."""
        data = b""
        while not data.endswith(b"\0") and len(data) < MAX_REPLY:
            try:
                block = sock.recv(MAX_REPLY)
            except OSError as error:
                if data:
                    break
                raise ScannerUnavailable(f"pas de réponse de clamd : {error}") from error
            if not block:
                break
            data += block
        return data.rstrip(b"\0").decode("utf-8", "replace").strip()

    def ping(self) -> bool:
        with self._connect() as sock:
            sock.sendall(b"zPING\0")
            return self._reply(sock) == "PONG"

    def scan(self, stream: Readable, chunk_size: int = CHUNK_SIZE) -> Verdict:
        """Stream `stream` to clamd (zINSTREAM) and return its verdict."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                while chunk := stream.read(chunk_size):
                    sock.sendall(struct.pack(">I", len(chunk)))
                    sock.sendall(chunk)
                sock.sendall(struct.pack(">I", 0))
            except (BrokenPipeError, ConnectionResetError):
                # clamd stops reading when the stream goes over its StreamMaxLength and
                # closes after saying so: its answer is still there to read.
                pass
            except TimeoutError as error:
                raise ScannerUnavailable(f"clamd ne lit plus le flux : {error}") from error
            except OSError as error:
                raise ScannerUnavailable(f"envoi à clamd interrompu : {error}") from error
            reply = self._reply(sock)
        return parse_reply(reply)


def parse_reply(reply: str) -> Verdict:
    if not reply:
        raise ScannerUnavailable("clamd a fermé la connexion sans répondre")
    if reply.endswith("ERROR"):
        raise ScanFailed(f"clamd : {reply}"[:255])
    body = reply.removeprefix("stream:").strip()
    if body == "OK":
        return Verdict(infected=False)
    if body.endswith(" FOUND"):
        return Verdict(infected=True, signature=body.removesuffix(" FOUND").strip()[:200])
    raise ScanFailed(f"réponse inattendue de clamd : {reply}"[:255])


def scanner() -> Clamd | None:
    """The application's daemon, or None when scanning is not configured."""
    return Clamd.from_config(current_app.config)


def configured() -> bool:
    return scanner() is not None


def scan_stored(key: str) -> Verdict:
    """Scan a stored file, streamed from the file store."""
    from backoffice.uploads import storage

    clamd = scanner()
    if clamd is None:
        raise ScanFailed("aucun antivirus n'est configuré (CLAMD_SOCKET ou CLAMD_HOST)")
    try:
        handle = storage().open(key)
    except FileNotFoundError as error:
        raise ScanFailed("le fichier est absent du stockage") from error
    with handle:
        return clamd.scan(handle)


def quarantine_dir() -> Path:
    config = current_app.config
    return Path(config.get("QUARANTINE_DIR") or Path(config["STORAGE_DIR"]) / "quarantaine")


def quarantine(key: str, name: str) -> Path | None:
    """Copy the stored bytes into the quarantine folder (mode 600), then remove them from
    the file store; their storage key then names nothing. Safe to run again (None when the
    bytes already left the store)."""
    from backoffice.uploads import storage

    store = storage()
    if not store.exists(key):
        return None
    folder = quarantine_dir()
    folder.mkdir(mode=QUARANTINE_DIR_MODE, parents=True, exist_ok=True)
    target = folder / name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, QUARANTINE_FILE_MODE)
    with os.fdopen(fd, "wb") as out, store.open(key) as source:
        shutil.copyfileobj(source, out, CHUNK_SIZE)
        out.flush()
        os.fsync(out.fileno())  # the copy is on disk before the original goes
    os.chmod(target, QUARANTINE_FILE_MODE)  # O_CREAT's mode does not apply to an old file
    store.delete(key)
    return target


@click.command("analyser-fichiers")
@with_appcontext
def analyser_fichiers() -> None:
    """Queue again the antivirus scan of every file still waiting or whose scan failed
    (scanned at once in the embedded mode); exit 1, listing them, when some failed."""
    from backoffice.tasks import collect_failures, exit_on_failures
    from jobs.antivirus import rattraper

    if not configured():
        raise click.ClickException("Aucun antivirus n'est configuré (CLAMD_SOCKET ou "
                                   "CLAMD_HOST).")
    with collect_failures() as failures:
        count = rattraper()
    click.echo(f"{count} fichier(s) remis en analyse.")
    exit_on_failures(failures)


def init_app(app: Flask) -> None:
    app.cli.add_command(analyser_fichiers)
