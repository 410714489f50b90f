"""What every storage backend shares: the stored-file record, the interface, capped reading."""

from __future__ import annotations

from collections.abc import Iterator, Set
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from backoffice.storage.errors import FileTooLarge

DEFAULT_CHUNK_SIZE = 1024 * 1024


class Readable(Protocol):
    """Anything with `read(n)`: a werkzeug stream, an open file, a BytesIO, a ZipExtFile."""

    def read(self, size: int = -1, /) -> bytes:
        """Return at most `size` bytes; b"" at the end."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What a successful save recorded: the generated key and facts about the bytes."""

    key: str
    size: int
    sha256: str
    kind: str
    content_type: str


class Storage(Protocol):
    """The file store as the rest of the application sees it (local disk today)."""

    def save(
        self,
        stream: Readable,
        *,
        max_size: int,
        allowed: Set[str],
        declared_size: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> StoredFile:
        """Store a stream under a new key, enforcing size and kind."""

    def open(self, key: str) -> BinaryIO:
        """Open a stored file for reading."""

    def exists(self, key: str) -> bool:
        """Whether a file is stored under `key`."""

    def delete(self, key: str) -> bool:
        """Remove a stored file; True if it existed."""

    def size(self, key: str) -> int:
        """Size in bytes of a stored file."""

    def path(self, key: str) -> Path:
        """A local path to the file, for readers that need to seek (zip inspection); an
        object store would return a cached local copy."""


def iter_capped(stream: Readable, max_size: int, chunk_size: int) -> Iterator[bytes]:
    """Yield the stream's chunks; raise FileTooLarge as soon as more than max_size bytes came."""
    if max_size < 0 or chunk_size <= 0:
        raise ValueError("max_size must be >= 0 and chunk_size > 0")
    total = 0
    while True:
        # Never ask for more than one byte past the limit: that byte is proof enough.
        chunk = stream.read(min(chunk_size, max_size + 1 - total))
        if not chunk:
            return
        total += len(chunk)
        if total > max_size:  # also catches a stream returning more than it was asked for
            raise FileTooLarge(max_size)
        yield chunk
