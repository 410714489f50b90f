"""File store for uploaded evidence: streamed to disk, capped, sniffed, ZIPs inspected.

Pure Python (no Flask): the HTTP layer passes a stream and turns StorageError into a response
with `error.http_status` and `error.as_dict()`.
"""

from __future__ import annotations

from backoffice.storage.base import Readable, Storage, StoredFile, iter_capped
from backoffice.storage.errors import (
    EmptyFile,
    FileTooLarge,
    StorageError,
    UnsafeArchive,
    UnsupportedType,
    format_count,
    format_size,
)
from backoffice.storage.kinds import (
    CONTENT_TYPES,
    HEAD_SIZE,
    KINDS_DOCUMENT,
    KINDS_IMAGE,
    KINDS_ZIP,
    LABELS,
    detect_kind,
)
from backoffice.storage.local import IncomingFile, LocalStorage, is_valid_key, new_key
from backoffice.storage.names import sanitize_filename, with_matching_extension
from backoffice.storage.zipinspect import ZipEntry, ZipReport, inspect_zip, open_entry

__all__ = [
    "CONTENT_TYPES",
    "HEAD_SIZE",
    "KINDS_DOCUMENT",
    "KINDS_IMAGE",
    "KINDS_ZIP",
    "LABELS",
    "EmptyFile",
    "FileTooLarge",
    "IncomingFile",
    "LocalStorage",
    "Readable",
    "Storage",
    "StorageError",
    "StoredFile",
    "UnsafeArchive",
    "UnsupportedType",
    "ZipEntry",
    "ZipReport",
    "detect_kind",
    "format_count",
    "format_size",
    "inspect_zip",
    "is_valid_key",
    "iter_capped",
    "new_key",
    "open_entry",
    "sanitize_filename",
    "with_matching_extension",
]
