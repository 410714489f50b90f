"""Counting a ZIP's central-directory records before `zipfile` builds objects for them.

`zipfile.ZipFile` turns every central-directory record into a `ZipInfo` (a few hundred bytes
each) before anyone can count them, and an uploaded archive can hold a million 46-byte records
pointing at the same data. Walking the raw records first, and stopping just past the limit,
bounds that memory. The layout mirrors `zipfile._RealGetContents`, so both see the same records.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CD_HEADER_SIZE = 46
_EOCD_SIG = b"PK\x05\x06"
_EOCD64_LOCATOR_SIG = b"PK\x06\x07"
_EOCD64_SIG = b"PK\x06\x06"
_CD_SIG = b"PK\x01\x02"
_MAX_COMMENT = 0xFFFF

# What `zipfile` raises on malformed or hostile input, besides OSError for real I/O problems.
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
)


def _central_directory(fp: BinaryIO) -> tuple[int, int] | None:
    """Return (start offset, size) of the central directory, or None if there is none."""
    fp.seek(0, 2)
    file_size = fp.tell()
    tail_start = max(file_size - _MAX_COMMENT - _EOCD.size, 0)
    fp.seek(tail_start)
    tail = fp.read()
    # Like zipfile: first the common comment-less layout, then a search through the comment.
    if tail[-_EOCD.size : -_EOCD.size + 4] == _EOCD_SIG and tail[-2:] == b"\0\0":
        pos = len(tail) - _EOCD.size
    else:
        pos = tail.rfind(_EOCD_SIG)
        if pos < 0 or len(tail) - pos < _EOCD.size:
            return None
    cd_size = _EOCD.unpack_from(tail, pos)[5]
    location = tail_start + pos
    zip64_at = location - _EOCD64_LOCATOR.size - _EOCD64.size
    if zip64_at >= 0:
        fp.seek(location - _EOCD64_LOCATOR.size)
        if fp.read(4) == _EOCD64_LOCATOR_SIG:
            fp.seek(zip64_at)
            record = fp.read(_EOCD64.size)
            if len(record) == _EOCD64.size and record[:4] == _EOCD64_SIG:
                cd_size = _EOCD64.unpack(record)[8]
                location = zip64_at
    start = location - cd_size
    return (start, cd_size) if start >= 0 else None


def central_directory_start(fp: BinaryIO) -> int | None:
    """Where the central directory starts in the file (after any prefix), or None."""
    located = _central_directory(fp)
    return None if located is None else located[0]


def has_central_directory(path: Path) -> bool:
    """Whether the file ends like a ZIP: an end record pointing at a directory whose first
    record is there. A PDF or an image with an archive glued to its end does."""
    with path.open("rb") as fp:
        located = _central_directory(fp)
        if located is None:
            return False
        start, size = located
        fp.seek(start)
        return size == 0 or fp.read(4) == _CD_SIG


def count_entries(path: Path, limit: int) -> int | None:
    """Count central-directory records, stopping at `limit + 1`; None if the directory is bad."""
    with path.open("rb") as fp:
        located = _central_directory(fp)
        if located is None:
            return None
        start, cd_size = located
        count = offset = 0
        while offset < cd_size and count <= limit:
            fp.seek(start + offset)
            header = fp.read(_CD_HEADER_SIZE)
            if len(header) != _CD_HEADER_SIZE or header[:4] != _CD_SIG:
                return None
            name_len, extra_len, comment_len = struct.unpack_from("<3H", header, 28)
            offset += _CD_HEADER_SIZE + name_len + extra_len + comment_len
            count += 1
        return count
