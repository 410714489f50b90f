"""Content sniffing: what a file is, decided from its bytes, never from its name.

`gif` is detected (so logs can say what was sent) but belongs to no allow-list: it is
refused everywhere, like any unknown content.

Given the file, sniffing also inspects every ZIP container before naming it (zipinspect):
a Word, Excel, PowerPoint or OpenDocument file is a ZIP to any unzip tool, and so is a JAR,
an EPUB, or a PDF or image with an archive appended to it. Typing one as a document used to
skip the inspection: a 1000:1 bomb or a `../../../x.sh` entry was accepted as a pièce.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from pathlib import Path

from backoffice.storage.zipformat import ZIP_ERRORS, count_entries, has_central_directory

HEAD_SIZE = 8 * 1024  # how much of the start of a file the sniffing looks at

KINDS_DOCUMENT = frozenset(
    {"pdf", "png", "jpeg", "docx", "xlsx", "pptx", "odt", "ods", "odp", "ole", "text"}
)
# Disjoint from KINDS_DOCUMENT on purpose: an office file (itself a ZIP) is not an archive.
KINDS_ZIP = frozenset({"zip"})
KINDS_IMAGE = frozenset({"png", "jpeg"})

# Display order in messages, most common first.
KIND_ORDER = (
    "pdf", "png", "jpeg", "docx", "xlsx", "pptx", "odt", "ods", "odp", "ole", "text", "zip", "gif",
)  # fmt: skip

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "zip": "application/zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "ole": "application/x-ole-storage",
    "text": "text/plain; charset=utf-8",
}
TEXT_LEGACY_CONTENT_TYPE = "text/plain; charset=windows-1252"

# French labels, as they appear in « seuls les formats … sont acceptés ».
LABELS = {
    "pdf": "PDF",
    "png": "PNG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "zip": "ZIP",
    "docx": "Word (DOCX)",
    "xlsx": "Excel (XLSX)",
    "pptx": "PowerPoint (PPTX)",
    "odt": "Texte OpenDocument (ODT)",
    "ods": "Classeur OpenDocument (ODS)",
    "odp": "Présentation OpenDocument (ODP)",
    "ole": "Office 97-2003 (DOC, XLS, PPT)",
    "text": "texte brut (TXT)",
}

_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive
_OOXML_FOLDERS = (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx"))
_ODF_PREFIX = "application/vnd.oasis.opendocument."
_ODF_TYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
}
# Past this many entries we do not let zipfile parse the directory just to sniff; it is a
# plain "zip", which inspect_zip then refuses for having too many entries.
_SNIFF_MAX_ENTRIES = 10_000
# Control characters that do not occur in text files; tab, LF, FF and CR do.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def detect_kind(head: bytes, path: Path | None = None) -> str | None:
    """Return the kind of a file from its first bytes (and its path, to tell ZIPs apart).

    With the path, any ZIP container is inspected first: UnsafeArchive if it is unsafe,
    whatever kind it would have been."""
    if head.startswith(_ZIP_MAGIC):
        # Without the file we cannot read the central directory: best effort is "zip".
        if path is None:
            return "zip"
        _inspect(path)
        return _zip_kind(path)
    kind = next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)
    if kind is None and _looks_like_text(head[:HEAD_SIZE]):
        kind = "text"
    if path is not None and has_central_directory(path):
        _inspect(path)  # an archive glued to the end: unzip tools open it all the same
    return kind


def _inspect(path: Path) -> None:
    from backoffice.storage.zipinspect import inspect_zip  # it imports this module's labels

    inspect_zip(path)


def _zip_kind(path: Path) -> str | None:
    """Tell an office document from a plain archive by its central directory."""
    count = count_entries(path, _SNIFF_MAX_ENTRIES)
    if count is None or count > _SNIFF_MAX_ENTRIES:
        return "zip"  # corrupt or huge: inspect_zip explains the refusal better than we can
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if infos and infos[0].filename == "mimetype" and infos[0].file_size <= 256:
                mimetype = archive.read(infos[0]).decode("ascii", "replace").strip()
                if mimetype.startswith(_ODF_PREFIX):
                    # An OpenDocument we do not accept (drawing, template…) is no plain archive.
                    return _ODF_TYPES.get(mimetype)
            names = [info.filename for info in infos]
    except ZIP_ERRORS:
        return "zip"
    if "[Content_Types].xml" in names:
        for folder, kind in _OOXML_FOLDERS:
            if any(name.startswith(folder) for name in names):
                return kind
    return "zip"


def _looks_like_text(head: bytes) -> bool:
    """UTF-8, or Windows-1252/Latin-1, without control characters other than \\t\\n\\f\\r."""
    if not head:
        return False
    try:
        # Incremental and not final: the 8 KiB cut may fall inside a multi-byte character.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        try:
            # Windows-1252 rather than strict Latin-1: French Windows editors write « ’ » and
            # « € » as 0x92 and 0x80, which Latin-1 would call control characters.
            text = head.decode("cp1252")
        except UnicodeDecodeError:
            return False
    return _CONTROL.search(text) is None


def text_content_type(path: Path) -> str:
    """Content type for a stored text file: UTF-8 if the whole file decodes, else Windows-1252."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fp:
            while chunk := fp.read(1024 * 1024):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return TEXT_LEGACY_CONTENT_TYPE
    return CONTENT_TYPES["text"]
