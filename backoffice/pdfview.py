"""A PDF viewer that never lets the browser open the vendor's PDF.

A PDF from outside can carry JavaScript, forms, links and exploits for the viewer that
opens it. The back-office therefore never serves a PDF inline: the « Aperçu » page shows
each page as a PNG image, rendered on the server by PDFium (pypdfium2) in a separate,
short-lived process with limits on memory, CPU time and output (a crash or a hostile file
costs that process only). Images are served with `Content-Security-Policy: sandbox`; the
viewer page itself is one of ours, under the site's strict policy.

Run as `python -m backoffice.pdfview count|render SOURCE [PAGE]`, SOURCE a path or "-"
for standard input: what the parent calls; not meant for people.
"""

from __future__ import annotations

import os
import struct
import subprocess  # nosec B404 - our own renderer, fixed arguments, no shell
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

MAX_PAGES = 200  # pages offered in the viewer; the rest: download the file
WIDTH = 1240  # pixels of a rendered page (A4 at 150 dpi)
MAX_SCALE = 4.0
TIMEOUT = 30  # seconds for one call of the renderer
MEMORY = 1024 * 1024 * 1024  # address space of the renderer
CPU = 20  # seconds
MAX_PNG = 40 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    """Where the PDF is: a local path, or bytes (a zip entry read in memory)."""

    path: Path | None = None
    data: bytes | None = None


class RenderError(Exception):
    """The renderer failed (not a PDF after all, damaged, too heavy, crashed)."""


def _limits() -> None:
    """First thing the child does, before it reads the PDF (not a preexec_fn: those are
    unsafe in a threaded server)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU, CPU))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # writes no file


def _run(source: Source, *args: str) -> bytes:
    argv = [sys.executable, "-m", "backoffice.pdfview", *args[:1],
            str(source.path) if source.path else "-", *args[1:]]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).parents[1])}
    try:
        result = subprocess.run(  # noqa: S603  # nosec B603
            argv, input=source.data, capture_output=True, timeout=TIMEOUT, check=False,
            env=env, close_fds=True)
    except subprocess.TimeoutExpired as exc:
        raise RenderError("rendu trop long") from exc
    if result.returncode != 0 or not result.stdout:
        raise RenderError(result.stderr.decode(errors="replace")[-500:] or "échec du rendu")
    return result.stdout


def page_count(source: Source) -> int:
    return int(_run(source, "count").decode().strip())


def render_page(source: Source, page: int) -> bytes:
    """Page `page` (1-based) as a PNG image."""
    return _run(source, "render", str(page))


# --- the child ------------------------------------------------------------------------

def png(width: int, height: int, rgb: bytes, stride: int) -> bytes:
    """A minimal PNG encoder (8-bit RGB, no filtering): no imaging library needed."""
    rows = b"".join(b"\x00" + rgb[y * stride:y * stride + width * 3] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def _child(argv: list[str]) -> int:
    _limits()
    import pypdfium2 as pdfium

    mode, source = argv[0], argv[1]
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    document = pdfium.PdfDocument(data)  # no forms initialised: nothing of the PDF runs
    if mode == "count":
        sys.stdout.write(f"{len(document)}\n")
        return 0
    index = int(argv[2]) - 1
    if not 0 <= index < min(len(document), MAX_PAGES):
        return 2
    page = document[index]
    width, _height = page.get_size()
    scale = min(WIDTH / max(width, 1.0), MAX_SCALE)
    bitmap = page.render(scale=scale, rev_byteorder=True, may_draw_forms=False,
                         fill_color=(255, 255, 255, 255))
    if bitmap.n_channels != 3:
        return 3
    out = png(bitmap.width, bitmap.height, bytes(bitmap.buffer), bitmap.stride)
    if len(out) > MAX_PNG:
        return 4
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
