"""Checking an uploaded ZIP without extracting it, and reading single entries from it."""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from backoffice.storage.base import DEFAULT_CHUNK_SIZE, iter_capped
from backoffice.storage.errors import FileTooLarge, UnsafeArchive, format_count, format_size
from backoffice.storage.zipformat import ZIP_ERRORS, count_entries

DEFAULT_MAX_ENTRIES = 5000
DEFAULT_MAX_TOTAL_SIZE = 4 * 1024**3
DEFAULT_MAX_RATIO = 200
# Below this size any ratio is fine: a small log or XML file legitimately compresses 500:1.
RATIO_MIN_SIZE = 1024 * 1024
NESTED_ARCHIVE_SUFFIXES = (".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz")
_ENCRYPTED_FLAG = 0x1
_DRIVE = re.compile(r"[A-Za-z]:")
_SEPARATORS = re.compile(r"[/\\]")
# Controls (CR LF, ESC, NUL… C0, DEL, C1) and bidi controls in an entry name: the name is shown
# to vérificateurs and sent back as a download name, where "x\u202efdp.exe" displays as
# "xexe.pdf" and CR LF breaks a header. A sanitised copy would no longer name the entry, so
# such archives are refused rather than cleaned.
_UNSAFE_NAME_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One entry of an inspected archive, with sizes as declared by its central directory."""

    name: str
    size: int
    compressed_size: int
    is_dir: bool
    is_nested_archive: bool


@dataclass(frozen=True, slots=True)
class ZipReport:
    """The result of a successful inspection; nested archives are listed, not refused."""

    entries: list[ZipEntry]
    total_size: int
    nested_archives: list[str]


def inspect_zip(
    path: Path,
    *,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_total_size: int = DEFAULT_MAX_TOTAL_SIZE,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> ZipReport:
    """List an archive's entries, raising UnsafeArchive if it is corrupt or dangerous."""
    # Count raw records before zipfile allocates an object for each one of them.
    count = count_entries(path, max_entries)
    if count is None:
        raise UnsafeArchive("corrupt")
    if count > max_entries:
        raise UnsafeArchive("too_many_entries", limit=format_count(max_entries))
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except NotImplementedError as exc:  # e.g. a "version needed to extract" from the future
        raise UnsafeArchive("unsupported") from exc
    except ZIP_ERRORS as exc:
        raise UnsafeArchive("corrupt") from exc
    if len(infos) > max_entries:  # cannot happen if both parsers agree; cheap to make sure
        raise UnsafeArchive("too_many_entries", limit=format_count(max_entries))

    entries: list[ZipEntry] = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        _check_entry(info, max_ratio)
        if info.filename in seen:
            # Two entries, one name: what we inspected may not be what an extractor keeps.
            raise UnsafeArchive("duplicate", entry=info.filename)
        seen.add(info.filename)
        total += info.file_size
        if total > max_total_size:
            raise UnsafeArchive("too_large", entry=info.filename, limit=format_size(max_total_size))
        is_dir = info.is_dir()
        nested = not is_dir and info.filename.lower().endswith(NESTED_ARCHIVE_SUFFIXES)
        entries.append(ZipEntry(info.filename, info.file_size, info.compress_size, is_dir, nested))
    nested_names = [entry.name for entry in entries if entry.is_nested_archive]
    return ZipReport(entries=entries, total_size=total, nested_archives=nested_names)


def _check_entry(info: zipfile.ZipInfo, max_ratio: int) -> None:
    """Raise UnsafeArchive if one entry is a path trick, a link, encrypted or a bomb."""
    name = info.filename
    # zipfile cuts names at the first NUL; other extractors may not, so check the raw one too.
    for candidate in {name, info.orig_filename}:
        if candidate.startswith(("/", "\\")) or _DRIVE.match(candidate):
            raise UnsafeArchive("absolute_path", entry=name)
        for part in _SEPARATORS.split(candidate):
            # ".." climbs out; Windows also strips trailing dots and spaces, so "..." or ".. "
            # can end up meaning ".." there. Only "" and "." are harmless dot-and-space parts.
            if part not in ("", ".") and not part.strip(". "):
                raise UnsafeArchive("parent_path", entry=name)
    if any(_UNSAFE_NAME_CHARS.search(candidate) for candidate in (name, info.orig_filename)):
        raise UnsafeArchive("control_characters", entry=name)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeArchive("symlink", entry=name)
    if info.flag_bits & _ENCRYPTED_FLAG:
        raise UnsafeArchive("encrypted", entry=name)
    if info.file_size > RATIO_MIN_SIZE and info.file_size > max_ratio * max(info.compress_size, 1):
        raise UnsafeArchive("ratio", entry=name)


def open_entry(
    path: Path, name: str, *, max_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> bytes:
    """Read one file entry (exact name, else KeyError) into memory, never onto the disk."""
    # The whole archive is inspected first; then the declared size is checked, then the
    # bytes actually produced are counted, because headers are written by the uploader.
    if max_size < 0 or chunk_size <= 0:  # checked here, or the handler below would say "corrupt"
        raise ValueError("max_size must be >= 0 and chunk_size > 0")
    report = inspect_zip(path)
    if not any(entry.name == name and not entry.is_dir for entry in report.entries):
        raise KeyError(name)
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(name)
            if info.file_size > max_size:
                raise FileTooLarge(max_size)
            with archive.open(info) as source:
                # zipfile stops at the declared size and then checks the CRC, so a lying
                # header mostly surfaces as BadZipFile; the cap is the backstop regardless.
                return b"".join(iter_capped(source, max_size, chunk_size))
    except NotImplementedError as exc:  # compression method zipfile cannot read
        raise UnsafeArchive("unsupported", entry=name) from exc
    except ZIP_ERRORS as exc:
        raise UnsafeArchive("corrupt", entry=name) from exc
