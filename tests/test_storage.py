"""File store (backoffice/storage): streaming saves, content sniffing, names, ZIP inspection.

Pure Python: no Flask app, no database. Every ZIP is built here with `zipfile`.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import stat
import struct
import sys
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest

from backoffice import storage
from backoffice.storage import (
    KINDS_DOCUMENT,
    KINDS_IMAGE,
    KINDS_ZIP,
    EmptyFile,
    FileTooLarge,
    LocalStorage,
    StorageError,
    UnsafeArchive,
    UnsupportedType,
    detect_kind,
    format_size,
    inspect_zip,
    open_entry,
    sanitize_filename,
)

MiB = 1024 * 1024
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20)
GIF = b"GIF89a" + bytes(20)
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


# --- helpers -------------------------------------------------------------------------------


class CountingStream:
    """Wraps bytes; counts read calls and bytes handed out; refuses read() without a size."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self.reads = 0
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        assert size >= 0, "save() must never ask for the whole stream"
        self.reads += 1
        chunk = self._buffer.read(size)
        self.bytes_read += len(chunk)
        return chunk

    def __enter__(self) -> CountingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class GeneratedStream:
    """Produces `total` bytes on the fly (a PDF header then zeros), hashing what it hands out."""

    def __init__(self, total: int, *, head: bytes = b"%PDF-1.7\n") -> None:
        self.remaining = total
        self.head = head
        self.bytes_read = 0
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        assert size >= 0, "save() must never ask for the whole stream"
        size = min(size, self.remaining)
        chunk = self.head[:size] + bytes(max(size - len(self.head), 0))
        self.head = self.head[size:]
        self.remaining -= len(chunk)
        self.bytes_read += len(chunk)
        self.sha256.update(chunk)
        return chunk


def endless_pdf() -> GeneratedStream:
    return GeneratedStream(10**15)


def tmp_files(root: Path) -> list[Path]:
    return list((root / "tmp").glob("*")) if (root / "tmp").exists() else []


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "tmp" not in p.relative_to(root).parts]


def make_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def patch_headers(path: Path, *, flag_bits: int = 0, file_size: int | None = None) -> None:
    """Rewrite fields that zipfile will not write for us, in every local and central header."""
    data = bytearray(path.read_bytes())
    for signature, flag_at, size_at in ((b"PK\x03\x04", 6, 22), (b"PK\x01\x02", 8, 24)):
        start = data.find(signature)
        while start >= 0:
            (flags,) = struct.unpack_from("<H", data, start + flag_at)
            struct.pack_into("<H", data, start + flag_at, flags | flag_bits)
            if file_size is not None:
                struct.pack_into("<L", data, start + size_at, file_size)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


def ooxml(path: Path, folder: str) -> Path:
    return make_zip(
        path,
        [("[Content_Types].xml", b"<Types/>"), ("_rels/.rels", b"<Relationships/>"),
         (f"{folder}/document.xml", b"<document/>")],
    )  # fmt: skip


def opendocument(path: Path, mimetype: str, *, first: bool = True) -> Path:
    stored = zipfile.ZipInfo("mimetype")  # ZIP_STORED, as the OpenDocument spec asks
    entries = [(stored, mimetype.encode()), ("content.xml", b"<office:document-content/>")]
    return make_zip(path, entries if first else entries[::-1])


def reason(excinfo: pytest.ExceptionInfo[UnsafeArchive]) -> str:
    return excinfo.value.reason


# --- errors --------------------------------------------------------------------------------


def test_error_codes_statuses_and_french_messages() -> None:
    too_large = FileTooLarge(50 * MiB)
    assert (too_large.code, too_large.http_status) == ("file_too_large", 413)
    assert too_large.message == "Le fichier dépasse la taille maximale autorisée (50 Mo)."
    assert too_large.as_dict() == {"code": "file_too_large", "message": too_large.message}
    empty = EmptyFile()
    assert (empty.code, empty.http_status, empty.message) == (
        "empty_file", 422, "Le fichier est vide.",
    )  # fmt: skip
    unsupported = UnsupportedType({"pdf", "png", "jpeg"})
    assert (unsupported.code, unsupported.http_status) == ("unsupported_type", 415)
    assert unsupported.message == (
        "Type de fichier non accepté : seuls les formats PDF, PNG et JPEG sont acceptés."
    )
    archive = UnsafeArchive("symlink")
    assert (archive.code, archive.http_status) == ("unsafe_archive", 422)
    assert archive.message == "Archive refusée : elle contient un lien symbolique."
    assert all(isinstance(e, StorageError) for e in (too_large, empty, unsupported, archive))


@pytest.mark.parametrize(
    ("size", "text"),
    [(1, "1 octet"), (900, "900 octets"), (512 * 1024, "512 Ko"), (50 * MiB, "50 Mo"),
     (1536 * MiB, "1,5 Go"), (4 * 1024**3, "4 Go")],
)  # fmt: skip
def test_format_size_in_french(size: int, text: str) -> None:
    assert format_size(size) == text


def test_storage_package_imports_only_the_standard_library() -> None:
    package = Path(storage.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or name.startswith("backoffice.storage"), (
                    f"{module.name} imports {name}"
                )


# --- saving --------------------------------------------------------------------------------


def test_save_records_size_sha256_kind_and_permissions(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    stored = store.save(io.BytesIO(PDF), max_size=MiB, allowed=KINDS_DOCUMENT, chunk_size=7)
    assert stored.size == len(PDF)
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
    assert (stored.kind, stored.content_type) == ("pdf", "application/pdf")
    assert storage.is_valid_key(stored.key)
    assert store.path(stored.key) == tmp_path / stored.key
    assert store.path(stored.key).read_bytes() == PDF
    assert stat.S_IMODE(store.path(stored.key).stat().st_mode) == 0o640
    assert store.size(stored.key) == len(PDF)
    with store.open(stored.key) as fp:
        assert fp.read() == PDF
    assert tmp_files(tmp_path) == []


def test_keys_are_fresh_uuid4_fan_outs(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    keys = {store.save(io.BytesIO(PDF), max_size=MiB, allowed={"pdf"}).key for _ in range(3)}
    assert len(keys) == 3
    for key in keys:
        first, second, name = key.split("/")
        assert (first, second) == (name[:2], name[2:4]) and len(name) == 32


def test_kind_is_decided_by_content_not_by_extension(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    disguised_pdf = tmp_path / "photo.png"
    disguised_pdf.write_bytes(PDF)
    with disguised_pdf.open("rb") as fp:
        assert store.save(fp, max_size=MiB, allowed=KINDS_DOCUMENT).kind == "pdf"

    disguised_text = tmp_path / "rapport.pdf"
    disguised_text.write_bytes(b"Ceci n'est pas un PDF.\n")
    with disguised_text.open("rb") as fp, pytest.raises(UnsupportedType) as excinfo:
        store.save(fp, max_size=MiB, allowed={"pdf"})
    assert excinfo.value.detected == "text"
    assert excinfo.value.message == "Type de fichier non accepté : seul le format PDF est accepté."
    assert tmp_files(tmp_path / "store") == []
    assert len(stored_files(tmp_path / "store")) == 1  # only the real PDF


def test_declared_size_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    stream = CountingStream(PDF)
    with pytest.raises(FileTooLarge) as excinfo:
        LocalStorage(tmp_path).save(
            stream, max_size=10 * MiB, allowed=KINDS_DOCUMENT, declared_size=10 * MiB + 1
        )
    assert stream.reads == 0
    assert excinfo.value.http_status == 413
    assert excinfo.value.message == "Le fichier dépasse la taille maximale autorisée (10 Mo)."


def test_stream_over_the_limit_stops_reading_and_leaves_nothing(tmp_path: Path) -> None:
    chunk_size = 64 * 1024
    max_size = 5 * chunk_size + 123
    stream = endless_pdf()  # and it lies by omission: no declared size
    with pytest.raises(FileTooLarge):
        LocalStorage(tmp_path).save(
            stream, max_size=max_size, allowed=KINDS_DOCUMENT, chunk_size=chunk_size
        )
    assert max_size < stream.bytes_read <= max_size + chunk_size
    assert tmp_files(tmp_path) == []
    assert stored_files(tmp_path) == []


def test_a_stream_exactly_at_the_limit_is_accepted(tmp_path: Path) -> None:
    stored = LocalStorage(tmp_path).save(
        GeneratedStream(3 * MiB), max_size=3 * MiB, allowed={"pdf"}, declared_size=3 * MiB
    )
    assert stored.size == 3 * MiB


def test_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmptyFile) as excinfo:
        LocalStorage(tmp_path).save(io.BytesIO(b""), max_size=MiB, allowed=KINDS_DOCUMENT)
    assert (excinfo.value.code, excinfo.value.http_status) == ("empty_file", 422)
    assert tmp_files(tmp_path) == []


def test_saving_300_mb_streams_in_constant_memory(tmp_path: Path) -> None:
    total = 300 * MiB
    stream = GeneratedStream(total)
    store = LocalStorage(tmp_path)
    tracemalloc.start()
    try:
        stored = store.save(stream, max_size=400 * MiB, allowed={"pdf"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
    assert stored.size == total == store.size(stored.key)
    assert stored.sha256 == stream.sha256.hexdigest()
    assert store.delete(stored.key)  # do not leave 300 MB in the test's tmp dir


def test_office_documents_are_told_apart_from_plain_zips(tmp_path: Path) -> None:
    cases = {
        "docx": ooxml(tmp_path / "a", "word"),
        "xlsx": ooxml(tmp_path / "b", "xl"),
        "pptx": ooxml(tmp_path / "c", "ppt"),
        "odt": opendocument(tmp_path / "d", "application/vnd.oasis.opendocument.text"),
        "ods": opendocument(tmp_path / "e", "application/vnd.oasis.opendocument.spreadsheet"),
        "odp": opendocument(tmp_path / "f", "application/vnd.oasis.opendocument.presentation"),
        "zip": make_zip(tmp_path / "g", [("notes.txt", b"hello"), ("word/x.xml", b"<x/>")]),
    }
    for kind, path in cases.items():
        assert detect_kind(path.read_bytes()[:8192], path) == kind, kind
    # "mimetype" must come first; a drawing is an OpenDocument we accept nowhere.
    late = opendocument(tmp_path / "h", "application/vnd.oasis.opendocument.text", first=False)
    assert detect_kind(late.read_bytes(), late) == "zip"
    impostor = make_zip(
        tmp_path / "j", [("readme.txt", b"application/vnd.oasis.opendocument.text")]
    )
    assert detect_kind(impostor.read_bytes(), impostor) == "zip"
    drawing = opendocument(tmp_path / "i", "application/vnd.oasis.opendocument.graphics")
    assert detect_kind(drawing.read_bytes(), drawing) is None
    # Without the file there is no central directory to read.
    assert detect_kind(cases["docx"].read_bytes()[:8192]) == "zip"


def test_office_files_and_plain_zips_are_not_interchangeable(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    docx = ooxml(tmp_path / "a.docx", "word")
    plain = make_zip(tmp_path / "b.zip", [("preuve.pdf", PDF)])
    with docx.open("rb") as fp:
        stored = store.save(fp, max_size=MiB, allowed=KINDS_DOCUMENT)
    assert stored.kind == "docx"
    assert stored.content_type.endswith("wordprocessingml.document")
    with docx.open("rb") as fp, pytest.raises(UnsupportedType):
        store.save(fp, max_size=MiB, allowed=KINDS_ZIP)
    with plain.open("rb") as fp, pytest.raises(UnsupportedType):
        store.save(fp, max_size=MiB, allowed=KINDS_DOCUMENT)
    with plain.open("rb") as fp:
        archive = store.save(fp, max_size=MiB, allowed=KINDS_ZIP)
    assert (archive.kind, archive.content_type) == ("zip", "application/zip")
    assert [e.name for e in inspect_zip(store.path(archive.key)).entries] == ["preuve.pdf"]


def test_magic_numbers() -> None:
    assert detect_kind(PDF) == "pdf"
    assert detect_kind(PNG) == "png"
    assert detect_kind(JPEG) == "jpeg"
    assert detect_kind(OLE) == "ole"
    assert detect_kind(b"PDF-1.7 without the percent sign\x00") is None
    # GIF is recognised for the logs but accepted nowhere.
    assert detect_kind(GIF) == "gif"
    assert all("gif" not in kinds for kinds in (KINDS_DOCUMENT, KINDS_IMAGE, KINDS_ZIP))
    assert sorted(KINDS_IMAGE) == ["jpeg", "png"]
    assert sorted(KINDS_ZIP) == ["zip"]
    assert sorted(KINDS_DOCUMENT) == sorted(
        ["pdf", "png", "jpeg", "docx", "xlsx", "pptx", "odt", "ods", "odp", "ole", "text"]
    )


def test_ole_documents_are_accepted_as_documents_not_images(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    assert store.save(io.BytesIO(OLE), max_size=MiB, allowed=KINDS_DOCUMENT).kind == "ole"
    with pytest.raises(UnsupportedType) as excinfo:
        store.save(io.BytesIO(OLE), max_size=MiB, allowed=KINDS_IMAGE)
    assert excinfo.value.detected == "ole"
    assert "PNG et JPEG" in excinfo.value.message


def test_text_detection_and_charset(tmp_path: Path) -> None:
    utf8 = "Été à Paris : 5 €\r\n\tfin\n".encode()
    latin = "Coût : 5 € – l’été\n".encode("cp1252")
    assert detect_kind(utf8) == detect_kind(latin) == "text"
    # An 8 KiB cut in the middle of "é" is still text.
    assert detect_kind(("é" * 5000).encode()[:8191]) == "text"
    for binary in (b"abc\x00def", b"\x01\x02\x03", bytes(100), b"text\x1b[31m", b"\x81\x8d"):
        assert detect_kind(binary) is None, binary
    store = LocalStorage(tmp_path)
    saved = store.save(io.BytesIO(utf8), max_size=MiB, allowed=KINDS_DOCUMENT)
    assert saved.content_type == "text/plain; charset=utf-8"
    legacy = store.save(io.BytesIO(latin), max_size=MiB, allowed=KINDS_DOCUMENT)
    assert legacy.content_type == "text/plain; charset=windows-1252"


# --- keys, deletion, housekeeping ----------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["../x", "../../etc/passwd", "/etc/passwd", "tmp/upload-abc", "ab/cd",
     "00/00/" + "ab" * 16, "AB/CD/" + "ab" * 16, "ab/cd/" + "ab" * 16 + "\n",
     "ab/cd/" + "ab" * 16 + "/../../../x", "ab\\cd\\" + "ab" * 16, "", None],
)  # fmt: skip
def test_path_refuses_anything_but_a_generated_key(tmp_path: Path, key: str) -> None:
    store = LocalStorage(tmp_path)
    for method in (store.path, store.open, store.exists, store.delete, store.size):
        with pytest.raises(ValueError, match="invalid storage key"):
            method(key)


def test_path_accepts_a_generated_key_inside_root(tmp_path: Path) -> None:
    key = storage.new_key()
    assert LocalStorage(tmp_path).path(key) == tmp_path / key
    assert not LocalStorage(tmp_path).exists(key)


def test_delete_removes_the_bytes(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    key = store.save(io.BytesIO(PDF), max_size=MiB, allowed={"pdf"}).key
    assert store.exists(key)
    assert store.delete(key) is True
    assert not store.path(key).exists()
    assert store.exists(key) is False
    assert store.delete(key) is False  # already gone is not an error
    with pytest.raises(FileNotFoundError):
        store.open(key)


def test_purge_tmp_removes_only_stale_temp_files(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    assert store.purge_tmp() == 0
    (tmp_path / "tmp").mkdir()
    stale, fresh = tmp_path / "tmp" / "upload-old", tmp_path / "tmp" / "upload-new"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    assert store.purge_tmp() == 1
    assert not stale.exists() and fresh.exists()


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\x.pdf", "x.pdf"),
        ("\\\\serveur\\partage\\preuve.pdf", "preuve.pdf"),
        ("evil\u202efdp.exe", "evilfdp.exe"),
        ("a\u2066b\u2069c\u200b\ufeff.pdf", "abc.pdf"),
        ("rap\x00port\x07.pdf", "rapport.pdf"),
        ("..\x00/..\u200b/secret.txt", "secret.txt"),
        ("<script>alert(1)</script>.pdf", "script>.pdf"),
        ("<img src=x onerror=alert(1)>.pdf", "<img src=x onerror=alert(1)>.pdf"),
        ("Rapport\tfinal\n  v2\u00a0.pdf", "Rapport final v2 .pdf"),
        ("  ..cache. . ", "cache"),
        ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),
        ("\udcff.pdf", "pdf"),
        ("", "fichier"),
        ("...", "fichier"),
        ("dossier/", "fichier"),
        ("\u202e\u200b", "fichier"),
    ],
)
def test_sanitize_filename_attack_corpus(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_sanitize_filename_limits_length_and_keeps_the_extension() -> None:
    long_pdf = sanitize_filename("a" * 300 + ".pdf")
    assert len(long_pdf) == 200 and long_pdf.endswith("a.pdf")
    assert sanitize_filename("b" * 300) == "b" * 200
    assert sanitize_filename("ok.pdf") == "ok.pdf"
    # A very long tail after the last dot is not an extension worth keeping.
    assert sanitize_filename("v1." + "c" * 300) == ("v1." + "c" * 300)[:200]



@pytest.mark.parametrize(
    ("name", "kind", "shown"),
    [
        ("facture.html", "text", "facture.html.txt"),
        ("notes.TXT", "text", "notes.TXT"),
        ("export.csv", "text", "export.csv"),
        ("script.ps1", "text", "script.ps1.txt"),
        ("dessin.svg", "text", "dessin.svg.txt"),
        ("rapport.pdf", "pdf", "rapport.pdf"),
        ("rapport", "pdf", "rapport.pdf"),
        ("photo.JPEG", "jpeg", "photo.JPEG"),
        ("installateur.msi", "ole", "installateur.msi.doc"),
        ("ancien.xls", "ole", "ancien.xls"),
        ("preuves.zip", "zip", "preuves.zip"),
        ("x" * 199 + ".html", "text", "x" * 196 + ".txt"),
    ],
)
def test_names_say_what_the_content_is(name: str, kind: str, shown: str) -> None:
    from backoffice.storage import with_matching_extension

    assert with_matching_extension(name, kind) == shown
    assert len(with_matching_extension(name, kind)) <= 200


# --- ZIP inspection ------------------------------------------------------------------------


def test_inspect_lists_entries_and_flags_nested_archives(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "a.zip",
        [("docs/", b""), ("docs/preuve.pdf", PDF), ("inner.ZIP", b"PK"), ("logs.tar.gz", b"x"),
         ("./ok.txt", b"ok")],
    )  # fmt: skip
    report = inspect_zip(path)
    assert [e.name for e in report.entries] == [
        "docs/", "docs/preuve.pdf", "inner.ZIP", "logs.tar.gz", "./ok.txt",
    ]  # fmt: skip
    assert report.nested_archives == ["inner.ZIP", "logs.tar.gz"]
    assert [e.is_nested_archive for e in report.entries] == [False, False, True, True, False]
    assert [e.is_dir for e in report.entries] == [True, False, False, False, False]
    assert report.total_size == len(PDF) + 2 + 1 + 2
    assert report.entries[1].size == len(PDF) and report.entries[1].compressed_size > 0


def test_zip_bomb_ratio_is_refused_but_small_compressible_files_pass(tmp_path: Path) -> None:
    bomb = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(50 * MiB))])
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(bomb)
    assert reason(excinfo) == "ratio"
    assert "taux de compression" in excinfo.value.message
    small = make_zip(tmp_path / "small.zip", [("zeros.log", bytes(MiB))])  # ~1000:1, but 1 MiB
    assert inspect_zip(small).total_size == MiB


def test_total_uncompressed_size_is_capped(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", [(f"{i}.bin", os.urandom(400)) for i in range(3)])
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path, max_total_size=1000)
    assert reason(excinfo) == "too_large"
    assert excinfo.value.message.endswith("(plus de 1000 octets).")
    assert inspect_zip(path, max_total_size=1200).total_size == 1200


def test_too_many_entries_are_refused_before_zipfile_parses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_zip(tmp_path / "a.zip", [(f"{i}.txt", b"x") for i in range(11)])
    assert len(inspect_zip(path, max_entries=11).entries) == 11

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("zipfile must not parse an oversized central directory")

    monkeypatch.setattr(zipfile, "ZipFile", no_parsing)
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path, max_entries=10)
    assert reason(excinfo) == "too_many_entries"
    assert "plus de 10" in excinfo.value.message


def test_entry_counting_follows_zipfile_on_comments_prefixes_and_zip64(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as archive:
        archive.writestr("a.txt", b"a")
        archive.writestr("b.txt", b"b")
        archive.comment = b"commentaire " * 1000
    # A self-extracting archive: an executable stub in front, offsets relative to the ZIP part.
    (tmp_path / "sfx.zip").write_bytes(b"MZ" + bytes(5000) + (tmp_path / "c.zip").read_bytes())
    for name in ("c.zip", "sfx.zip"):
        assert [e.name for e in inspect_zip(tmp_path / name, max_entries=2).entries] == [
            "a.txt", "b.txt",
        ]  # fmt: skip
    # Past 65 535 entries the counts live in the ZIP64 end record.
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(0x10000):
            archive.writestr(f"{i}", b"")
    assert b"PK\x06\x06" in many.read_bytes()[-200:]
    assert len(inspect_zip(many, max_entries=0x10000).entries) == 0x10000
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(many, max_entries=0xFFFF)
    assert reason(excinfo) == "too_many_entries"


@pytest.mark.parametrize(
    ("name", "why"),
    [("../evil.txt", "parent_path"), ("a/../../evil.txt", "parent_path"),
     ("a\\..\\..\\evil.txt", "parent_path"), ("a/.. /evil.txt", "parent_path"),
     ("/etc/passwd", "absolute_path"), ("\\windows\\evil.dll", "absolute_path"),
     ("C:\\x", "absolute_path"), ("c:/x", "absolute_path")],
)  # fmt: skip
def test_zip_slip_is_refused(tmp_path: Path, name: str, why: str) -> None:
    path = make_zip(tmp_path / "a.zip", [("first.txt", b"ok"), (name, b"evil")])
    assert [info.filename for info in zipfile.ZipFile(path).infolist()][1] == name
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path)
    assert reason(excinfo) == why
    assert excinfo.value.entry == name


def test_zip_slip_hidden_behind_a_nul_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", [("ok.txt#/../../evil", b"evil")])
    path.write_bytes(path.read_bytes().replace(b"ok.txt#", b"ok.txt\x00"))
    info = zipfile.ZipFile(path).infolist()[0]
    assert (info.filename, info.orig_filename) == ("ok.txt", "ok.txt\x00/../../evil")
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path)
    assert reason(excinfo) == "parent_path"


@pytest.mark.parametrize(
    "name",
    ["INS 1.1\r\nX-Injected: 1.pdf", "capture\u202efdp.exe", "a\x1b[31m.pdf", "b\x7f.pdf",
     "\u2066c\u2069.pdf", "d\u200f.pdf", "e\x85.pdf"],
)  # fmt: skip
def test_entry_names_with_control_or_bidi_characters_are_refused(tmp_path: Path, name: str) -> None:
    path = make_zip(tmp_path / "a.zip", [("ok.txt", b"ok"), (name, b"x")])
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path)
    assert reason(excinfo) == "control_characters"
    assert excinfo.value.entry == name and name not in excinfo.value.message
    # What a name may contain: accents, spaces, punctuation, other scripts.
    fine = make_zip(tmp_path / "b.zip", [("Évaluation (v2) — capture d’écran 日本.pdf", b"x")])
    assert len(inspect_zip(fine).entries) == 1


def test_a_nul_hiding_the_rest_of_an_entry_name_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", [("ok.txt#evil.exe", b"evil")])
    path.write_bytes(path.read_bytes().replace(b"ok.txt#", b"ok.txt\x00"))
    assert zipfile.ZipFile(path).infolist()[0].filename == "ok.txt"  # what zipfile shows
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path)
    assert reason(excinfo) == "control_characters"


def test_symlink_entries_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("lien")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = make_zip(tmp_path / "a.zip", [("ok.txt", b"ok"), (link, b"/etc/passwd")])
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path)
    assert reason(excinfo) == "symlink"
    regular = zipfile.ZipInfo("fichier")
    regular.external_attr = (stat.S_IFREG | 0o644) << 16
    assert len(inspect_zip(make_zip(tmp_path / "b.zip", [(regular, b"x")])).entries) == 1


def test_encrypted_entries_are_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", [("secret.txt", b"chut")])
    patch_headers(path, flag_bits=0x1)
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path)
    assert reason(excinfo) == "encrypted"
    assert "chiffré" in excinfo.value.message


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns: "Duplicate name"
        path = make_zip(tmp_path / "a.zip", [("a.txt", b"inspected"), ("a.txt", b"extracted")])
    with pytest.raises(UnsafeArchive) as excinfo:
        inspect_zip(path)
    assert reason(excinfo) == "duplicate"


def test_corrupt_archives_are_refused(tmp_path: Path) -> None:
    good = make_zip(tmp_path / "good.zip", [("a.txt", b"hello" * 100)]).read_bytes()
    broken_directory = bytearray(good)
    broken_directory[good.find(b"PK\x01\x02") + 2] ^= 0xFF
    corpus = {
        "garbage": b"PK\x03\x04" + os.urandom(200),
        "truncated": good[: len(good) // 2],
        "no_directory": good[: good.find(b"PK\x01\x02")],
        "bad_directory": bytes(broken_directory),
        "not_a_zip": PDF,
    }
    for label, data in corpus.items():
        path = tmp_path / f"{label}.zip"
        path.write_bytes(data)
        with pytest.raises(UnsafeArchive) as excinfo:
            inspect_zip(path)
        assert reason(excinfo) == "corrupt", label
        assert excinfo.value.message == "Archive refusée : elle est corrompue ou illisible."
        # Sniffing inspects what starts like a ZIP: the archive check explains the refusal.
        if data.startswith(b"PK"):
            with pytest.raises(UnsafeArchive) as excinfo:
                detect_kind(data, path)
            assert reason(excinfo) == "corrupt", label
        assert detect_kind(data[:8192]) == ("zip" if data.startswith(b"PK") else "pdf")


# --- reading one entry ---------------------------------------------------------------------


def test_open_entry_reads_one_entry_without_extracting(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", [("dir/", b""), ("dir/preuve.pdf", PDF), ("b", b"bb")])
    assert open_entry(path, "dir/preuve.pdf", max_size=MiB) == PDF
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]  # nothing extracted
    for missing in ("nope.pdf", "dir/", "DIR/preuve.pdf", "preuve.pdf"):
        with pytest.raises(KeyError):
            open_entry(path, missing, max_size=MiB)


def test_open_entry_refuses_a_declared_size_over_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_zip(tmp_path / "a.zip", [("big.bin", os.urandom(5000))])
    assert len(open_entry(path, "big.bin", max_size=5000)) == 5000

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the declared size alone must be enough to refuse")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_reading)
    with pytest.raises(FileTooLarge):
        open_entry(path, "big.bin", max_size=4999)


def test_open_entry_refuses_an_entry_lying_about_its_size(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", [("liar.txt", b"A" * 100_000)])
    patch_headers(path, file_size=10)  # declares 10 bytes, inflates to 100 000
    assert inspect_zip(path).entries[0].size == 10
    with pytest.raises(UnsafeArchive) as excinfo:
        open_entry(path, "liar.txt", max_size=1000)
    assert reason(excinfo) == "corrupt"


def test_open_entry_counts_the_bytes_actually_produced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # zipfile itself stops at the declared size; simulate a reader that would not.
    path = make_zip(tmp_path / "a.zip", [("small.txt", b"tiny")])
    stream = CountingStream(b"x" * 10_000)
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: stream)
    with pytest.raises(FileTooLarge):
        open_entry(path, "small.txt", max_size=100, chunk_size=64)
    assert stream.bytes_read <= 100 + 64


def test_open_entry_refuses_to_read_from_an_unsafe_archive(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("lien")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = make_zip(tmp_path / "a.zip", [("ok.txt", b"ok"), (link, b"/etc/passwd")])
    with pytest.raises(UnsafeArchive):
        open_entry(path, "ok.txt", max_size=MiB)


# --- uploads written once: the parser writes into the store, which adopts the file ----


def test_incoming_file_is_adopted_without_a_second_copy(tmp_path: Path) -> None:
    from backoffice.storage import LocalStorage

    store = LocalStorage(tmp_path)
    body = b"%PDF-1.4\n" + os.urandom(3 * 1024 * 1024)
    incoming = store.incoming(max_size=10 * 1024 * 1024)
    for start in range(0, len(body), 65536):  # as the multipart parser writes
        incoming.write(body[start:start + 65536])
    incoming.seek(0)
    tmp_file = incoming.path
    stored = store.adopt(incoming, allowed={"pdf"})
    incoming.close()  # the request ends: an adopted file stays
    assert stored.size == len(body) and stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.kind == "pdf" and store.path(stored.key).read_bytes() == body
    assert not tmp_file.exists() and store.path(stored.key).stat().st_ino  # renamed, not copied
    assert list((tmp_path / "tmp").iterdir()) == []


def test_incoming_file_refused_leaves_nothing(tmp_path: Path) -> None:
    from backoffice.storage import LocalStorage

    store = LocalStorage(tmp_path)
    too_big = store.incoming(max_size=1000)
    too_big.write(b"%PDF-1.4\n" + bytes(5000))
    assert too_big.path.stat().st_size <= 1000  # nothing written past the limit
    with pytest.raises(FileTooLarge):
        store.adopt(too_big, allowed={"pdf"})
    exe = store.incoming(max_size=10_000)
    exe.write(b"MZ\x90\x00" + bytes(100))
    with pytest.raises(UnsupportedType):
        store.adopt(exe, allowed={"pdf"})
    empty = store.incoming(max_size=10_000)
    with pytest.raises(EmptyFile):
        store.adopt(empty, allowed={"pdf"})
    for incoming in (too_big, exe, empty):
        incoming.close()  # the request ends: refused files are removed
    assert list((tmp_path / "tmp").iterdir()) == []
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
