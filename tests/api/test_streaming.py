"""Uploads stream to the file store: memory stays flat whatever the file's size."""

from __future__ import annotations

import hashlib
import tracemalloc

from tests.api.conftest import PDF


class GeneratedPdf:
    """A big PDF-looking stream produced on the fly (never in memory whole)."""

    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        if self.sent >= self.size:
            return b""
        n = self.size - self.sent if n is None or n < 0 else min(n, self.size - self.sent)
        chunk = (PDF + b"\x00" * max(0, n - len(PDF)))[:n] if self.sent == 0 else b"\x00" * n
        self.sent += len(chunk)
        self.digest.update(chunk)
        return chunk


def test_a_large_upload_streams_with_flat_memory(world) -> None:
    reference = world.api.open("dmn_nom_de_marque")
    size = 48 * 1024 * 1024  # just under the 50 Mo limit of a pièce
    stream = GeneratedPdf(size)
    tracemalloc.start()
    try:
        response = world.api.post(
            f"/candidatures/{reference}/pieces",
            data={"type": "documentation_fonctionnelle", "file": (stream, "gros.pdf")},
            content_type="multipart/form-data")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 201, response.json
    assert response.json["file"]["size"] == size
    assert response.json["file"]["sha256"] == stream.digest.hexdigest()
    assert peak < 12 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"
