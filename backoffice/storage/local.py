"""File store on the local disk: streamed, size-capped, type-checked uploads under one root."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import time
import uuid
from collections.abc import Set
from pathlib import Path
from typing import BinaryIO

from backoffice.storage.base import DEFAULT_CHUNK_SIZE, Readable, StoredFile, iter_capped
from backoffice.storage.errors import EmptyFile, FileTooLarge, UnsupportedType
from backoffice.storage.kinds import CONTENT_TYPES, HEAD_SIZE, detect_kind, text_content_type

FILE_MODE = 0o640
DIR_MODE = 0o750
TMP_DIR = "tmp"
# The only keys that exist: "ab/cd/abcd…" (uuid4 hex). Checking this shape, rather than
# resolving paths, is what keeps "../", absolute paths and symlink games out of the root.
_KEY = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{32})")


def new_key() -> str:
    """A fresh storage key, fanned out over two directory levels to keep directories small."""
    name = uuid.uuid4().hex
    return f"{name[:2]}/{name[2:4]}/{name}"


def is_valid_key(key: object) -> bool:
    """Whether `key` has the exact shape new_key() produces."""
    if not isinstance(key, str):
        return False
    match = _KEY.fullmatch(key)
    return match is not None and match[3].startswith(match[1] + match[2])


class IncomingFile(io.RawIOBase):
    """Where the multipart parser writes an uploaded file: straight into the store's temp
    folder, hashed and measured on the way, cut at `max_size` (then refused). `LocalStorage.adopt`
    then renames it into place: the bytes are written once (not spooled to /tmp, then
    copied). Closed without being adopted, it removes itself."""

    def __init__(self, tmp_dir: Path, max_size: int) -> None:
        super().__init__()
        tmp_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        self.path = Path(name)
        self._file = os.fdopen(fd, "w+b")
        self.max_size = max_size
        self.size = 0
        self.digest = hashlib.sha256()
        self.head = bytearray()
        self.adopted = False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        # Past the limit nothing more is written, and adopt() refuses the file; raising
        # here, inside the parser, would lose the rest of the form (the view shows the
        # error next to the field, the text typed kept).
        self.size += len(data)
        if self.size > self.max_size:
            return len(data)
        self.digest.update(data)
        if len(self.head) < HEAD_SIZE:
            self.head += data[: HEAD_SIZE - len(self.head)]
        return self._file.write(data)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def readinto(self, buffer) -> int:
        return self._file.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        if not self.adopted:
            self.path.unlink(missing_ok=True)
        super().close()


class LocalStorage:
    """Stores files under `root/<key>`; partial uploads live in `root/tmp/` until accepted."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def incoming(self, max_size: int) -> IncomingFile:
        """A file for the multipart parser to write an upload into (see IncomingFile)."""
        return IncomingFile(self.root / TMP_DIR, max_size)

    def adopt(self, incoming: IncomingFile, *, allowed: Set[str]) -> StoredFile:
        """Keep an upload the parser wrote into `incoming`, if non-empty and allowed."""
        if incoming.size > incoming.max_size:
            raise FileTooLarge(incoming.max_size)
        if incoming.size == 0:
            raise EmptyFile()
        incoming.flush()
        os.fsync(incoming._file.fileno())  # the rename below must not publish a hollow file
        kind = detect_kind(bytes(incoming.head), incoming.path)
        if kind is None or kind not in allowed:
            raise UnsupportedType(allowed, detected=kind)
        content_type = (text_content_type(incoming.path) if kind == "text"
                        else CONTENT_TYPES[kind])
        key = new_key()
        final = self.path(key)
        final.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(incoming.path, FILE_MODE)
        os.replace(incoming.path, final)  # atomic: readers see the whole file or nothing
        incoming.adopted = True
        return StoredFile(key=key, size=incoming.size, sha256=incoming.digest.hexdigest(),
                          kind=kind, content_type=content_type)

    def save(
        self,
        stream: Readable,
        *,
        max_size: int,
        allowed: Set[str],
        declared_size: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> StoredFile:
        """Stream `stream` to disk; keep it only if small enough and of an allowed kind."""
        # declared_size is the request's Content-Length: refusing on it spares reading
        # (and the client sending) a body already known to be too big.
        if declared_size is not None and declared_size > max_size:
            raise FileTooLarge(max_size)
        tmp_dir = self.root / TMP_DIR
        tmp_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            head = bytearray()
            with os.fdopen(fd, "wb") as out:
                for chunk in iter_capped(stream, max_size, chunk_size):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if len(head) < HEAD_SIZE:
                        head += chunk[: HEAD_SIZE - len(head)]
                out.flush()
                os.fsync(out.fileno())  # the rename below must not publish a hollow file
            if size == 0:
                raise EmptyFile()
            kind = detect_kind(bytes(head), tmp)
            if kind is None or kind not in allowed:
                raise UnsupportedType(allowed, detected=kind)
            content_type = text_content_type(tmp) if kind == "text" else CONTENT_TYPES[kind]
            key = new_key()
            final = self.path(key)
            final.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(tmp, FILE_MODE)  # mkstemp makes 0o600; the web and worker users share a group
            os.replace(tmp, final)  # atomic: readers see the whole file or nothing
        except BaseException:
            # Whatever went wrong (limits, disk full, client gone), leave no partial file behind.
            tmp.unlink(missing_ok=True)
            raise
        return StoredFile(
            key=key, size=size, sha256=digest.hexdigest(), kind=kind, content_type=content_type
        )

    def path(self, key: str) -> Path:
        """The file's path on disk; ValueError for anything that is not a generated key."""
        if not is_valid_key(key):
            raise ValueError(f"invalid storage key: {key!r}")
        return self.root / key

    def open(self, key: str) -> BinaryIO:
        """Open a stored file for reading (FileNotFoundError if it is gone)."""
        return self.path(key).open("rb")

    def exists(self, key: str) -> bool:
        """Whether a file is stored under `key`."""
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        """Size in bytes of a stored file (FileNotFoundError if it is gone)."""
        return self.path(key).stat().st_size

    def delete(self, key: str) -> bool:
        """Remove a stored file; True if it existed, False if it was already gone."""
        # Empty fan-out directories are kept: removing one could race with a concurrent
        # save that has just created it and is about to move its file in.
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def purge_tmp(self, older_than: float = 24 * 3600) -> int:
        """Remove temp files left by crashed workers (older than `older_than` seconds)."""
        tmp_dir = self.root / TMP_DIR
        if not tmp_dir.is_dir():
            return 0
        limit = time.time() - older_than
        removed = 0
        for entry in tmp_dir.iterdir():
            # An upload in progress is written to continuously, so its mtime stays recent.
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file() and entry.stat().st_mtime < limit:
                    entry.unlink()
                    removed += 1
        return removed
