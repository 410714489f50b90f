"""From an HTTP upload to a stored file and its Fichier row.

Limits and accepted kinds depend on what the file is for. A file stored during a request
whose transaction does not commit is removed at the end of the request: no orphan bytes
(the request's unit of work commits, and the commit keeps them: no view says so by hand).
When a ClamAV daemon is configured, the file waits for its scan ("en_attente", cannot be
opened) and the scan is queued once the request commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Request, current_app, g, request
from gunicorn.http.body import Body as GunicornBody
from gunicorn.http.body import LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.datastructures import FileStorage
from werkzeug.formparser import FormDataParser, MultiPartParser

from backoffice import antivirus
from backoffice.db import db
from backoffice.models import Candidature, Fichier
from backoffice.storage import (
    KINDS_DOCUMENT,
    KINDS_ZIP,
    FileTooLarge,
    IncomingFile,
    LocalStorage,
    Storage,
    sanitize_filename,
    with_matching_extension,
)
from backoffice.tasks import after_commit, schedule

F = TypeVar("F", bound=Callable[..., Any])
MB = 1024 * 1024
PARSE_BUFFER = 256 * 1024  # under max_form_memory_size (500 kB), checked per read
# Room for the multipart envelope and the other fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class Purpose:
    name: str
    allowed: frozenset[str]


PURPOSES = {
    "piece": Purpose("piece", frozenset(KINDS_DOCUMENT)),
    "preuve": Purpose("preuve", frozenset(KINDS_DOCUMENT | KINDS_ZIP)),
    "zip": Purpose("zip", frozenset(KINDS_ZIP)),
    "message": Purpose("message", frozenset(KINDS_DOCUMENT)),
    "convention": Purpose("convention", frozenset({"pdf"})),
}

DEFAULT_LIMITS_MB = {"piece": 50, "preuve": 200, "zip": 2048, "message": 20, "convention": 20}


def limits(app: Flask) -> dict[str, int]:
    """Bytes per purpose, from UPLOAD_LIMITS_MB ("piece=50,zip=2048") over the defaults."""
    values = dict(DEFAULT_LIMITS_MB)
    for item in filter(None, (app.config.get("UPLOAD_LIMITS_MB") or "").split(",")):
        name, _, value = item.partition("=")
        values[name.strip()] = int(value)
    return {name: mb * MB for name, mb in values.items()}


def storage() -> Storage:
    app = current_app
    if "storage" not in app.extensions:
        app.extensions["storage"] = LocalStorage(app.config["STORAGE_DIR"])
    return app.extensions["storage"]


def check_declared_size(purpose: str) -> None:
    """Refuse an announced body over the limit before reading it (413)."""
    limit = current_app.extensions["upload_limits"][purpose]
    if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
        raise FileTooLarge(limit)


def store(candidature: Candidature, upload: FileStorage, purpose: str,
          uploaded_by_user_id: int | None = None) -> Fichier:
    limit = current_app.extensions["upload_limits"][purpose]
    allowed = set(PURPOSES[purpose].allowed)
    if isinstance(upload.stream, IncomingFile):  # already written into the store: adopt it
        stored = storage().adopt(upload.stream, allowed=allowed)
    else:
        stored = storage().save(upload.stream, max_size=limit, allowed=allowed)
    g.setdefault("pending_uploads", []).append(stored.key)
    fichier = Fichier(
        candidature_id=candidature.id, storage_key=stored.key,
        original_name=with_matching_extension(sanitize_filename(upload.filename or ""),
                                              stored.kind),
        size=stored.size,
        sha256=stored.sha256, kind=stored.kind, content_type=stored.content_type,
        uploaded_by_user_id=uploaded_by_user_id,
        scan_status="en_attente" if antivirus.configured() else "sans_objet",
    )
    db.add(fichier)
    db.flush()
    # kept if and only if the transaction that records it commits: the teardown deletes
    # what is still pending (an error, a rollback, a request that never committed)
    after_commit(_keep, stored.key)
    if fichier.scan_status == "en_attente":
        schedule("antivirus.analyser", fichier.id)
    return fichier


def _keep(key: str) -> None:
    """The transaction that recorded the file committed: its bytes stay."""
    pending = g.get("pending_uploads", [])
    if key in pending:
        pending.remove(key)


# The body of any request that takes no file: forms, JSON. Werkzeug refuses more (413)
# before parsing, so nobody, signed in or not, can make the server spool gigabytes.
FORM_BODY_LIMIT = 1 * MB


def accepts_upload(purpose: str) -> Callable[[F], F]:
    """Declare that a view takes files for `purpose`: its body may be as large as that
    purpose's limit (every other view is capped at FORM_BODY_LIMIT)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown upload purpose {purpose!r}")

    def decorator(view: F) -> F:
        view.upload_purpose = purpose  # type: ignore[attr-defined]
        return view

    return decorator


def _cap_request_body() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    purpose = getattr(view, "upload_purpose", None)
    request.max_content_length = (
        current_app.extensions["upload_limits"][purpose] + MULTIPART_OVERHEAD
        if purpose else current_app.config.get("FORM_BODY_LIMIT", FORM_BODY_LIMIT))
    if purpose and "stream" not in request.__dict__:  # the body not read yet
        read_gunicorn_body_in_large_steps(request.environ)


class GunicornLargeReads:
    """gunicorn's request body (with a Content-Length) read in large steps.

    gunicorn (23.0) receives a body from its socket 8 KiB at a time and hands it to the
    application 1 KiB at a time (`Body.read` loops over `reader.read(1024)`; gunicorn
    issue 2596, no setting for it): a Python loop per KiB, 1.5-2 s of one core per GiB,
    the largest cost of an upload once nginx has spooled it (docs/benchmarks/upload-proxy.md).
    Here each read() asks gunicorn's LengthReader for the whole `size` at once, its socket
    reader receiving up to PARSE_BUFFER bytes per recv() meanwhile (restored afterwards: the
    connection may carry other requests). The LengthReader still counts what is left, so
    gunicorn drains an unread rest as usual before the connection's next request."""

    def __init__(self, reader: LengthReader) -> None:
        self._reader = reader

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._reader.length
        unreader = self._reader.unreader
        saved = unreader.mxchunk
        unreader.mxchunk = max(saved, PARSE_BUFFER)
        try:
            return self._reader.read(size)
        finally:
            unreader.mxchunk = saved


def read_gunicorn_body_in_large_steps(environ: dict[str, Any]) -> None:
    """Give the upload views GunicornLargeReads instead of gunicorn's `wsgi.input` when it
    has exactly the shape that relies on: a Body with nothing buffered yet, over a
    LengthReader, over its socket reader. Anything else (a chunked body, another server,
    the test client) is left as it is."""
    body: Any = environ.get("wsgi.input")
    reader: Any = getattr(body, "reader", None)
    if (type(body) is GunicornBody and type(reader) is LengthReader
            and type(getattr(reader, "unreader", None)) is SocketUnreader
            and isinstance(getattr(reader.unreader, "mxchunk", None), int)
            and isinstance(getattr(reader, "length", None), int)
            and not body.buf.tell()):
        environ["wsgi.input"] = GunicornLargeReads(reader)


class _LargeBufferParser(FormDataParser):
    """Werkzeug's parser reads the body 64 KiB at a time, each read a round of Python
    work; 1 MiB reads cut that overhead for large files (memory per request: ~2 MiB)."""

    def _parse_multipart(self, stream, mimetype, content_length, options):
        parser = MultiPartParser(stream_factory=self.stream_factory,
                                 max_form_memory_size=self.max_form_memory_size,
                                 max_form_parts=self.max_form_parts, cls=self.cls,
                                 buffer_size=PARSE_BUFFER)
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class UploadRequest(Request):
    """On the views that take files, the multipart parser writes each file straight into
    the store (IncomingFile) instead of a temporary file that would then be copied."""

    form_data_parser_class = _LargeBufferParser

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None):
        view = current_app.view_functions.get(self.endpoint or "")
        purpose = getattr(view, "upload_purpose", None)
        store_ = storage()
        if purpose and isinstance(store_, LocalStorage):
            return store_.incoming(current_app.extensions["upload_limits"][purpose])
        return super()._get_file_stream(total_content_length, content_type, filename,
                                        content_length)


def init_app(app: Flask) -> None:
    app.request_class = UploadRequest
    app.extensions["upload_limits"] = limits(app)
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None, not unset
        app.config["MAX_CONTENT_LENGTH"] = (max(app.extensions["upload_limits"].values())
                                            + MULTIPART_OVERHEAD)
    # first of all before_request functions: CSRF protection already parses the form
    app.before_request_funcs.setdefault(None, []).insert(0, _cap_request_body)

    @app.teardown_request
    def _drop_uncommitted_uploads(_exc: BaseException | None) -> None:
        for key in g.pop("pending_uploads", []):
            storage().delete(key)


def zip_summary(fichier: Fichier) -> dict:
    """What a stored zip holds, as ZipPourAvis.report keeps it (entries read from the
    central directory after the archive's safety checks; nothing is extracted)."""
    from backoffice.storage import inspect_zip

    report = inspect_zip(storage().path(fichier.storage_key))
    return {"entries": [{"name": e.name, "size": e.size} for e in report.entries
                        if not e.is_dir],
            "total_size": report.total_size, "nested_archives": report.nested_archives}
