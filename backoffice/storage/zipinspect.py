"""Checking an uploaded ZIP without extracting it, and reading single entries from it.

Every ZIP container goes through `inspect_zip`, whatever it is to us: a plain archive, an
Office or OpenDocument file, a JAR or an EPUB (kinds.py calls it before telling them apart).

A ZIP describes each file twice: in a local header just before its data, which streaming
extractors (and some antivirus engines) read from the start of the file, and in the central
directory at the end, which `zipfile` reads. An archive whose two descriptions disagree
shows one thing to the inspection and extracts as another (`INS 3.1.pdf` in the directory,
`../../../x/` in the local header), so both are read and compared (`_check_local_headers`),
and no data may hide between or overlap the entries the directory lists.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from backoffice.storage.base import DEFAULT_CHUNK_SIZE, iter_capped
from backoffice.storage.errors import FileTooLarge, UnsafeArchive, format_count, format_size
from backoffice.storage.zipformat import ZIP_ERRORS, central_directory_start, count_entries

DEFAULT_MAX_ENTRIES = 5000
DEFAULT_MAX_TOTAL_SIZE = 4 * 1024**3
DEFAULT_MAX_RATIO = 200
# Below this size any ratio is fine: a small log or XML file legitimately compresses 500:1.
RATIO_MIN_SIZE = 1024 * 1024
NESTED_ARCHIVE_SUFFIXES = (".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz")
_ENCRYPTED_FLAG = 0x1
_DATA_DESCRIPTOR_FLAG = 0x8
_STRONG_ENCRYPTION_FLAG = 0x40
_UTF8_FLAG = 0x800
_MASKED_HEADERS_FLAG = 0x2000  # central directory encryption: local headers hide the truth
_AES_METHOD = 99  # WinZip AES: encrypted whatever the flags say
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_LOCAL_SIG = b"PK\x03\x04"
_DESCRIPTOR_SIG = b"PK\x07\x08"
_ZIP64_EXTRA = 0x0001
_UNICODE_PATH_EXTRA = 0x7075  # Info-ZIP: a UTF-8 name that unzip prefers to the header's
_ZIP64_MARK = 0xFFFFFFFF
_SCAN_CHUNK = 1024 * 1024
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
    _check_local_headers(path, infos)
    nested_names = [entry.name for entry in entries if entry.is_nested_archive]
    return ZipReport(entries=entries, total_size=total, nested_archives=nested_names)


def _check_entry(info: zipfile.ZipInfo, max_ratio: int) -> None:
    """Raise UnsafeArchive if one entry is a path trick, a link, encrypted or a bomb."""
    name = info.filename
    # zipfile cuts names at the first NUL; other extractors may not, so check the raw one
    # too, and the UTF-8 name of an Info-ZIP field, which unzip extracts under instead.
    for candidate in (name, info.orig_filename, *_unicode_path_names(info.extra)):
        _check_name(candidate, name)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeArchive("symlink", entry=name)
    # Policy: no encrypted entry of any kind (the server could not inspect what it holds,
    # nor could the antivirus): classic ZipCrypto, strong encryption, AES, masked headers.
    if (info.flag_bits & (_ENCRYPTED_FLAG | _STRONG_ENCRYPTION_FLAG | _MASKED_HEADERS_FLAG)
            or info.compress_type == _AES_METHOD):
        raise UnsafeArchive("encrypted", entry=name)
    if info.file_size > RATIO_MIN_SIZE and info.file_size > max_ratio * max(info.compress_size, 1):
        raise UnsafeArchive("ratio", entry=name)


def _check_name(candidate: str, name: str) -> None:
    """Raise UnsafeArchive if a name an extractor may use climbs out, is absolute or hides
    characters; `name` is the entry's name (for logs)."""
    if candidate.startswith(("/", "\\")) or _DRIVE.match(candidate):
        raise UnsafeArchive("absolute_path", entry=name)
    for part in _SEPARATORS.split(candidate):
        # ".." climbs out; Windows also strips trailing dots and spaces, so "..." or ".. "
        # can end up meaning ".." there. Only "" and "." are harmless dot-and-space parts.
        if part not in ("", ".") and not part.strip(". "):
            raise UnsafeArchive("parent_path", entry=name)
    if _UNSAFE_NAME_CHARS.search(candidate):
        raise UnsafeArchive("control_characters", entry=name)


def _extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    """(id, data) of each field of an extra block; a truncated last field is ignored, as
    zipfile does."""
    at = 0
    while at + 4 <= len(extra):
        field_id, size = struct.unpack_from("<2H", extra, at)
        yield field_id, extra[at + 4 : at + 4 + size]
        at += 4 + size


def _unicode_path_names(extra: bytes) -> list[str]:
    """Names of the Info-ZIP Unicode Path fields (version, CRC of the header's name, UTF-8
    name): unzip extracts under that name when the CRC matches."""
    names = []
    for field_id, data in _extra_fields(extra):
        if field_id == _UNICODE_PATH_EXTRA and len(data) >= 5:
            try:
                names.append(data[5:].decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise UnsafeArchive("control_characters") from exc
    return names


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    """The name's bytes as the central directory holds them (zipfile decodes them)."""
    return info.orig_filename.encode("utf-8" if info.flag_bits & _UTF8_FLAG else "cp437")


def _local_zip64_sizes(extra: bytes) -> tuple[int, int] | None:
    """(uncompressed, compressed) sizes of a local header's ZIP64 field, if it has one."""
    for field_id, data in _extra_fields(extra):
        if field_id == _ZIP64_EXTRA and len(data) >= 16:
            return struct.unpack_from("<2Q", data)
    return None


def _check_local_headers(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Each entry's local header agrees with the central directory (name, flags, method,
    CRC and sizes — from the data descriptor when the header defers them), and the entries
    tile the file up to the directory: none overlaps another (the overlapping-entries bomb),
    and no local header hides in the gaps (an entry only streaming extractors would see)."""
    with path.open("rb") as fp:
        directory_start = central_directory_start(fp)
        if directory_start is None:
            raise UnsafeArchive("corrupt")
        covered = 0  # end of the last byte accounted for
        for info in sorted(infos, key=lambda i: i.header_offset):
            if info.header_offset < covered:
                raise UnsafeArchive("overlapping", entry=info.filename)
            _check_gap(fp, covered, info.header_offset)
            covered = _check_one(fp, info)
            if covered > directory_start:
                raise UnsafeArchive("overlapping", entry=info.filename)
        _check_gap(fp, covered, directory_start)


def _check_one(fp: BinaryIO, info: zipfile.ZipInfo) -> int:
    """Compare one local header with its directory record; return where its data ends."""
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise UnsafeArchive("corrupt", entry=info.filename)
    (signature, _version, flags, method, _time, _date, crc, compressed, size, name_length,
     extra_length) = _LOCAL_HEADER.unpack(header)
    name = fp.read(name_length)
    extra = fp.read(extra_length)
    if signature != _LOCAL_SIG or len(name) != name_length or len(extra) != extra_length:
        raise UnsafeArchive("header_mismatch", entry=info.filename)
    same_flags = _ENCRYPTED_FLAG | _STRONG_ENCRYPTION_FLAG | _UTF8_FLAG
    if (name != _raw_name(info) or method != info.compress_type
            or (flags & same_flags) != (info.flag_bits & same_flags)):
        raise UnsafeArchive("header_mismatch", entry=info.filename)
    for extra_name in _unicode_path_names(extra):  # the local header's own extra field
        _check_name(extra_name, info.filename)
    if size == _ZIP64_MARK or compressed == _ZIP64_MARK:
        sizes = _local_zip64_sizes(extra)
        if sizes is None:
            raise UnsafeArchive("header_mismatch", entry=info.filename)
        size, compressed = sizes
    data_end = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length \
        + info.compress_size
    declared = (crc, compressed, size)
    if not flags & _DATA_DESCRIPTOR_FLAG:
        if declared != (info.CRC, info.compress_size, info.file_size):
            raise UnsafeArchive("header_mismatch", entry=info.filename)
        return data_end
    # Sizes deferred to a data descriptor: the header may still carry each of them, or 0.
    expected = (info.CRC, info.compress_size, info.file_size)
    if any(value not in (0, truth) for value, truth in zip(declared, expected, strict=True)):
        raise UnsafeArchive("header_mismatch", entry=info.filename)
    return data_end + _descriptor_length(fp, data_end, info)


def _descriptor_length(fp: BinaryIO, at: int, info: zipfile.ZipInfo) -> int:
    """Length of the data descriptor at `at`, which must repeat the directory's CRC and
    sizes; with or without its optional signature, with 4- or 8-byte sizes (ZIP64)."""
    fp.seek(at)
    raw = fp.read(24)
    expected = (info.CRC, info.compress_size, info.file_size)
    for skip in ((4,) if raw[:4] == _DESCRIPTOR_SIG else ()) + (0,):
        for fmt in ("<3L", "<L2Q"):
            width = struct.calcsize(fmt)
            if len(raw) >= skip + width and struct.unpack_from(fmt, raw, skip) == expected:
                return skip + width
    raise UnsafeArchive("header_mismatch", entry=info.filename)


def _check_gap(fp: BinaryIO, start: int, end: int) -> None:
    """Bytes no entry accounts for (a self-extractor's stub, padding) hold no local header."""
    if end <= start:
        return
    fp.seek(start)
    tail = b""
    remaining = end - start
    while remaining > 0:
        chunk = fp.read(min(_SCAN_CHUNK, remaining))
        if not chunk:
            return
        if _LOCAL_SIG in tail + chunk:
            raise UnsafeArchive("overlapping")
        tail = chunk[-(len(_LOCAL_SIG) - 1):]
        remaining -= len(chunk)


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
