"""A prototype of the proposed upload path, for measurement only (docs/benchmarks.md,
"Proposed changes"): the multipart body is decoded as it arrives (Werkzeug's sans-IO
MultipartDecoder) and the file part goes straight into the store's temporary file, hashed
on the way, fsynced and renamed — one write instead of two (Werkzeug's spooled temporary
file, then the store's copy of it).

`gunicorn 'bench.upload_direct:create_app("/path/to/store")'` serves POST /upload; PUT
/spooled is the other proposal: a raw-body route behind a proxy that spools the body."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask, request
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

CHUNK = 1024 * 1024


def create_app(root: str = "instance/bench-store") -> Flask:
    app = Flask(__name__)
    store = Path(root)
    (store / "tmp").mkdir(parents=True, exist_ok=True)

    @app.post("/upload")
    def upload() -> Any:
        boundary = request.mimetype_params["boundary"].encode()
        decoder = MultipartDecoder(boundary, max_form_memory_size=2 * CHUNK)
        digest, size, out, tmp_name = hashlib.sha256(), 0, None, None
        fields: dict[str, str] = {}
        field_name, field_value = None, bytearray()
        stream = request.stream
        done = False
        while not done:
            chunk = stream.read(CHUNK)
            decoder.receive_data(chunk or None)
            event = decoder.next_event()
            while not isinstance(event, NeedData):
                if isinstance(event, File):
                    fd, tmp_name = tempfile.mkstemp(dir=store / "tmp", prefix="upload-")
                    out = os.fdopen(fd, "wb")
                elif isinstance(event, Field):
                    field_name, field_value = event.name, bytearray()
                elif isinstance(event, Data):
                    if out is not None and field_name is None:
                        digest.update(event.data)
                        out.write(event.data)
                        size += len(event.data)
                    else:
                        field_value += event.data
                    if not event.more_data:
                        if field_name is not None:
                            fields[field_name] = field_value.decode()
                            field_name = None
                        elif out is not None:
                            out.flush()
                            os.fsync(out.fileno())
                            out.close()
                elif isinstance(event, Epilogue):
                    done = True
                    break
                event = decoder.next_event()
            if not chunk:
                break
        key = digest.hexdigest()
        final = store / key[:2] / key
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, final)
        return {"size": size, "sha256": key, "fields": fields}

    @app.post("/upload-fast")
    def upload_fast() -> Any:
        """The same, with the file part's end found by bytes.find over 1 MiB reads (the
        file is the form's last part, as the portal sends it)."""
        delimiter = b"\r\n--" + request.mimetype_params["boundary"].encode()
        stream = request.stream
        buffer = b""
        while b"filename=" not in buffer or b"\r\n\r\n" not in buffer[buffer.find(
                b"filename="):]:
            chunk = stream.read(64 * 1024)
            if not chunk:
                return {"error": "no file part"}, 400
            buffer += chunk
        start = buffer.find(b"\r\n\r\n", buffer.find(b"filename=")) + 4
        pending = buffer[start:]
        digest, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=store / "tmp", prefix="upload-")
        with os.fdopen(fd, "wb") as out:
            while True:
                end = pending.find(delimiter)
                if end >= 0:
                    digest.update(pending[:end])
                    out.write(pending[:end])
                    size += end
                    break
                keep = len(delimiter)
                ready = pending[:-keep]
                digest.update(ready)
                out.write(ready)
                size += len(ready)
                chunk = stream.read(CHUNK)
                if not chunk:
                    return {"error": "truncated"}, 400
                pending = pending[-keep:] + chunk
            out.flush()
            os.fsync(out.fileno())
        while stream.read(CHUNK):
            pass
        key = digest.hexdigest()
        final = store / key[:2] / key
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, final)
        return {"size": size, "sha256": key}

    @app.post("/discard")
    def discard() -> Any:
        """Read the body and drop it: what the web server alone costs."""
        size = 0
        while chunk := request.stream.read(CHUNK):
            size += len(chunk)
        return {"size": size}

    @app.put("/spooled")
    def spooled() -> Any:
        """Behind a reverse proxy that wrote the raw request body to a file on the store's
        filesystem (nginx `client_body_in_file_only`): make it durable and rename it into
        the store. No byte goes through Python; the hash is left to a later job."""
        body = Path(request.headers["X-Body-File"])
        if body.parent != store / "spool":  # only the proxy's own spool folder
            return {"error": "not a spooled body"}, 400
        with body.open("rb") as handle:
            os.fsync(handle.fileno())
            size = os.fstat(handle.fileno()).st_size
        target = store / "files" / body.name
        target.parent.mkdir(exist_ok=True)
        os.replace(body, target)
        return {"size": size}

    return app
