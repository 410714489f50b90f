"""Every ZIP container inspected (issue 15, item 6).

Before: a ZIP holding `[Content_Types].xml` and `word/document.xml` was typed DOCX and never
inspected (a 1000:1 bomb, a `../../../x.sh` entry and a symlink were accepted as pièces),
and only the central directory was read (`INS 3.1.pdf` there, `../../../x/` in the local
header: accepted). Now anything that is a ZIP to an unzip tool — OOXML, OpenDocument, JAR,
EPUB, a PDF with an archive glued to its end — is inspected before it is typed, and every
local header must agree with the directory.

The archives are built here, most of them by hand (`craft`), byte by byte, so that each
test says exactly which field lies.
"""

from __future__ import annotations

import html
import io
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from backoffice.storage import (
    KINDS_DOCUMENT,
    KINDS_ZIP,
    LocalStorage,
    UnsafeArchive,
    detect_kind,
    inspect_zip,
)
from backoffice.storage.errors import ARCHIVE_REASONS
from tests.reviewer.conftest import desk  # noqa: F401 - the workspace fixture
from tests.test_attack_corpus import post, stored, target

MiB = 1024 * 1024
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CONTENT_TYPES = (b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                 b'package/2006/content-types"/>')


def refusal(reason: str) -> str:
    return f"Archive refusée : {ARCHIVE_REASONS[reason]}."


# --- archives written by zipfile ------------------------------------------------------------


def zipped(entries: list[tuple[str | zipfile.ZipInfo, bytes]], *, streamed: bool = False,
           zip64: bool = False) -> bytes:
    """A ZIP written by zipfile; `streamed` writes it to a pipe-like stream (sizes in data
    descriptors after each entry, as Java and streaming writers do), `zip64` forces ZIP64
    headers."""
    buffer = io.BytesIO()
    target_stream: io.RawIOBase | io.BytesIO = _Unseekable(buffer) if streamed else buffer
    with zipfile.ZipFile(target_stream, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = name if isinstance(name, zipfile.ZipInfo) else zipfile.ZipInfo(name)
            if info.compress_type == zipfile.ZIP_STORED and not isinstance(name, zipfile.ZipInfo):
                info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=zip64) as out:
                out.write(data)
    return buffer.getvalue()


class _Unseekable(io.RawIOBase):
    def __init__(self, sink: io.BytesIO) -> None:
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.sink.write(data)


def docx(*extra: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    return zipped([("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", b"<Relationships/>"),
                   ("word/document.xml", b"<w:document/>"), *extra])


def odt(*extra: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    mimetype = zipfile.ZipInfo("mimetype")  # stored and first, as OpenDocument requires
    return zipped([(mimetype, b"application/vnd.oasis.opendocument.text"),
                   ("content.xml", b"<office:document-content/>"), *extra])


def symlink(name: str) -> zipfile.ZipInfo:
    link = zipfile.ZipInfo(name)
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return link


BOMB = ("word/media/image1.png", bytes(4 * MiB))  # deflates about 1000:1


# --- archives crafted by hand -------------------------------------------------------------

LOCAL = struct.Struct("<4s5H3L2H")
CENTRAL = struct.Struct("<4s6H3L5H2L")
END = struct.Struct("<4s4H2LH")


@dataclass
class Entry:
    """One entry; each `local_*` field, when set, makes the local header say something else
    than the central directory."""

    name: bytes
    data: bytes
    deflate: bool = False
    local_name: bytes | None = None
    local_method: int | None = None
    local_sizes: tuple[int, int] | None = None  # (compressed, uncompressed)
    local_flags: int | None = None
    local_crc: int | None = None
    trailer: bytes = b""  # after the data: a data descriptor
    flags: int = 0
    method: int | None = None  # the directory's method (default: what the data is)
    extra: bytes = b""
    local_extra: bytes = b""
    listed: bool = True  # in the central directory
    written: bool = True  # its local record is written where it stands
    offset: int | None = None  # the directory's offset for it (default: where it was written)


def payload(entry: Entry) -> bytes:
    if not entry.deflate:
        return entry.data
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(entry.data) + compressor.flush()


def local_record(entry: Entry) -> bytes:
    body = payload(entry)
    method = 8 if entry.deflate else 0
    name = entry.name if entry.local_name is None else entry.local_name
    sizes = entry.local_sizes or (len(body), len(entry.data))
    return LOCAL.pack(b"PK\x03\x04", 20,
                      entry.flags if entry.local_flags is None else entry.local_flags,
                      method if entry.local_method is None else entry.local_method, 0, 0x21,
                      zlib.crc32(entry.data) if entry.local_crc is None else entry.local_crc,
                      *sizes, len(name), len(entry.local_extra)) \
        + name + entry.local_extra + body + entry.trailer


def craft(entries: list[Entry], *, prefix: bytes = b"") -> bytes:
    out = bytearray(prefix)
    directory = bytearray()
    count = 0
    for entry in entries:
        offset = len(out)
        if entry.written:
            out += local_record(entry)
        if entry.listed:
            body = payload(entry)
            method = entry.method if entry.method is not None else (8 if entry.deflate else 0)
            directory += CENTRAL.pack(
                b"PK\x01\x02", 0x314, 20, entry.flags, method, 0, 0x21, zlib.crc32(entry.data),
                len(body), len(entry.data), len(entry.name), len(entry.extra), 0, 0, 0,
                0o100644 << 16, offset if entry.offset is None else entry.offset,
            ) + entry.name + entry.extra
            count += 1
    start = len(out)
    out += directory + END.pack(b"PK\x05\x06", 0, 0, count, count, len(directory), start, 0)
    return bytes(out)


def unicode_path(name: bytes, real_name: str) -> bytes:
    """Info-ZIP's Unicode Path extra field: unzip extracts under `real_name`."""
    data = b"\x01" + struct.pack("<L", zlib.crc32(name)) + real_name.encode()
    return struct.pack("<2H", 0x7075, len(data)) + data


OK = Entry(b"INS 1.1.pdf", PDF)
OK_LAST = Entry(b"INS 9.9.pdf", PDF)


def deferred(name: bytes, data: bytes, *, crc_in_header: bool = False, signature: bool = True,
             descriptor_sizes: tuple[int, int] | None = None) -> Entry:
    """An entry whose local header defers CRC and sizes to a data descriptor (flag 0x8),
    as streaming writers do; `descriptor_sizes` makes the descriptor lie."""
    compressed, size = descriptor_sizes or (len(data), len(data))
    trailer = (b"PK\x07\x08" if signature else b"") + struct.pack("<3L", zlib.crc32(data),
                                                                     compressed, size)
    return Entry(name, data, flags=0x8, local_sizes=(0, 0),
                 local_crc=None if crc_in_header else 0, trailer=trailer)


def hidden_entry() -> bytes:
    """Two local records, one in the directory: only streaming extractors see the second."""
    return craft([OK, Entry(b"../../../x.sh", b"#!/bin/sh\nrm -rf ~\n", listed=False)])


def overlapping_entries() -> bytes:
    """The directory's second entry starts inside the first one's data (the overlapping-
    entries bomb reuses one compressed block for many files this way)."""
    inner = Entry(b"INS 1.2.pdf", PDF)
    inner_record = local_record(inner)
    outer = Entry(b"INS 1.1.pdf", b"%PDF-" + inner_record)
    inner.written, inner.offset = False, LOCAL.size + len(outer.name) + 5
    return craft([outer, inner])


# --- the cases ------------------------------------------------------------------------------

# name -> (archive, refusal reason)
HOSTILE: dict[str, tuple[bytes, str]] = {
    # Office and OpenDocument files used to skip the inspection altogether
    "docx_bomb": (docx(BOMB), "ratio"),
    "docx_zip_slip": (docx(("../../../x.sh", b"#!/bin/sh\n")), "parent_path"),
    "docx_absolute_path": (docx(("/etc/cron.d/x", b"* * * * * root id\n")), "absolute_path"),
    "docx_backslash_slip": (docx(("word\\..\\..\\x.sh", b"x")), "parent_path"),
    "docx_symlink": (docx((symlink("word/media/image2.png"), b"/etc/passwd")), "symlink"),
    "xlsx_bomb": (zipped([("[Content_Types].xml", CONTENT_TYPES), ("xl/workbook.xml", b"<w/>"),
                          ("xl/worksheets/sheet1.xml", bytes(4 * MiB))]), "ratio"),
    "odt_bomb": (odt(("Pictures/1.png", bytes(4 * MiB))), "ratio"),
    "odt_zip_slip": (odt(("../../x.sh", b"x")), "parent_path"),
    "jar_with_a_symlink": (zipped([("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
                                   (symlink("a.class"), b"/etc/shadow")]), "symlink"),
    "epub_zip_slip": (zipped([(zipfile.ZipInfo("mimetype"), b"application/epub+zip"),
                              ("../../../x.xhtml", b"<html/>")]), "parent_path"),
    # the local header against the central directory
    "local_name_differs": (  # the finding: the directory says INS 3.1.pdf
        craft([Entry(b"INS 3.1.pdf", PDF, local_name=b"../../../x/")]), "header_mismatch"),
    "local_name_differs_in_a_docx": (
        craft([Entry(b"[Content_Types].xml", CONTENT_TYPES),
               Entry(b"word/document.xml", b"<w/>", local_name=b"../../../x.sh/")]),
        "header_mismatch"),
    "local_sizes_differ": (
        craft([Entry(b"INS 1.1.pdf", PDF, local_sizes=(len(PDF), 10 * MiB))]), "header_mismatch"),
    "local_method_differs": (
        craft([Entry(b"INS 1.1.pdf", PDF, deflate=True, local_method=0)]), "header_mismatch"),
    "local_encryption_flag_differs": (
        craft([Entry(b"INS 1.1.pdf", PDF, local_flags=0x1)]), "header_mismatch"),
    "no_local_header_where_the_directory_points": (
        craft([OK, Entry(b"INS 1.2.pdf", PDF, offset=3)]), "overlapping"),
    "entry_hidden_from_the_directory": (hidden_entry(), "overlapping"),
    "data_descriptor_differs": (
        craft([deferred(b"INS 1.1.pdf", PDF, descriptor_sizes=(len(PDF), 10 * MiB))]),
        "header_mismatch"),
    "overlapping_entries": (overlapping_entries(), "overlapping"),
    "unicode_path_field_climbs_out": (
        craft([Entry(b"INS 1.1.pdf", PDF, extra=unicode_path(b"INS 1.1.pdf", "../../x.sh"))]),
        "parent_path"),
    "unicode_path_field_in_the_local_header": (
        craft([Entry(b"INS 1.1.pdf", PDF,
                     local_extra=unicode_path(b"INS 1.1.pdf", "/etc/cron.d/x"))]),
        "absolute_path"),
    # encryption policy: refused whatever the kind of encryption
    "aes_encrypted_entry": (craft([Entry(b"INS 1.1.pdf", PDF, method=99, local_method=99)]),
                            "encrypted"),
    "strong_encryption_flag": (craft([Entry(b"INS 1.1.pdf", PDF, flags=0x41)]), "encrypted"),
    # a document with an archive glued to its end is a ZIP to unzip tools
    "pdf_with_a_zip_slip_appended": (
        craft([Entry(b"../../../x.sh", b"#!/bin/sh\n")], prefix=PDF), "parent_path"),
}

BENIGN: dict[str, tuple[bytes, str]] = {
    "docx": (docx(), "docx"),
    "docx_streamed_with_data_descriptors": (
        zipped([("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", b"<w/>" * 500)],
               streamed=True), "docx"),
    "docx_zip64": (zipped([("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", b"<w/>")],
                          zip64=True), "docx"),
    "odt": (odt(), "odt"),
    "zip_crafted": (craft([OK, Entry(b"INS 1.2.pdf", PDF * 50, deflate=True)]), "zip"),
    "zip_with_data_descriptors": (
        craft([deferred(b"INS 1.1.pdf", PDF), deferred(b"INS 1.2.pdf", PDF, signature=False),
               deferred(b"INS 1.3.pdf", PDF, crc_in_header=True), OK_LAST]), "zip"),
    "zip_with_a_consistent_unicode_path": (
        craft([Entry(b"INS 1.1 pr\x82sentation.pdf", PDF,
                     extra=unicode_path(b"INS 1.1 pr\x82sentation.pdf",
                                        "INS 1.1 présentation.pdf"))]), "zip"),
    "self_extracting_prefix": (b"MZ" + bytes(5000) + craft([OK]), None),
    "pdf_with_a_harmless_zip_appended": (craft([OK], prefix=PDF), "pdf"),
}


# --- storage level ---------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "why"), [pytest.param(*v, id=k) for k, v in HOSTILE.items()])
def test_hostile_containers_are_refused_by_inspection_and_by_sniffing(
        tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path)
    assert excinfo.value.reason == why
    # Sniffing (what every upload goes through) inspects before naming the kind.
    with pytest.raises(UnsafeArchive) as excinfo:
        detect_kind(content[:8192], path)
    assert excinfo.value.reason == why
    assert excinfo.value.message == refusal(why)


@pytest.mark.parametrize(("content", "kind"), [pytest.param(*v, id=k) for k, v in BENIGN.items()])
def test_genuine_containers_are_accepted(tmp_path: Path, content: bytes, kind: str | None) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    inspect_zip(path)
    assert detect_kind(content[:8192], path) == kind


def test_each_hostile_container_is_refused_by_the_store_and_leaves_nothing(
        tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    for name, (content, why) in HOSTILE.items():
        with pytest.raises(UnsafeArchive) as excinfo:
            store.save(io.BytesIO(content), max_size=50 * MiB,
                       allowed=KINDS_DOCUMENT | KINDS_ZIP)
        assert excinfo.value.reason == why, name
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []


def test_the_crafted_mismatch_is_what_zipfile_alone_would_have_accepted(tmp_path: Path) -> None:
    """The test archive really is the attack: zipfile lists the directory's harmless name,
    and only reading the local header shows where an extractor would write."""
    content = HOSTILE["local_name_differs"][0]
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == ["INS 3.1.pdf"]
    assert content[LOCAL.size:LOCAL.size + 11] == b"../../../x/"


# --- through the API and the vérificateur's form ---------------------------------------------

API_CASES = ["docx_bomb", "docx_zip_slip", "docx_symlink", "odt_bomb", "local_name_differs",
             "entry_hidden_from_the_directory", "pdf_with_a_zip_slip_appended"]


@pytest.mark.parametrize("via", ["api:piece", "api:preuve", "api:zip", "api:message"])
@pytest.mark.parametrize("case", API_CASES)
def test_refused_as_a_piece_a_preuve_a_zip_or_an_attachment(
        app, desk, via: str, case: str) -> None:  # noqa: F811
    content, why = HOSTILE[case]
    t = target(desk, via)
    before = stored(app)
    name = {"api:zip": "preuves.zip", "api:piece": "document.docx"}.get(via, "preuve.docx")
    response = post(desk, t, [(name, content)])
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.json == {"code": "unsafe_archive", "message": refusal(why)}
    assert stored(app) == before


def test_refused_as_an_attachment_of_a_verificateur(app, desk) -> None:  # noqa: F811
    t = target(desk, "ui:message")
    before = stored(app)
    response = post(desk, t, [("trame.docx", HOSTILE["docx_bomb"][0])])
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert f"Pièce jointe refusée : {refusal('ratio')}" in page
    assert stored(app) == before


def test_a_genuine_office_document_is_still_a_piece(app, desk) -> None:  # noqa: F811
    t = target(desk, "api:piece")
    response = post(desk, t, [("dossier.docx", BENIGN["docx"][0])])
    assert response.status_code == 201, response.json
    assert response.json["file"]["content_type"].endswith("wordprocessingml.document")
