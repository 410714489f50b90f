"""A small PDF writer for ANS's documents: text in Helvetica (WinAnsi, so French accents
print), rectangles (QR codes, rules). Enough for a certificate or a procès-verbal, with a
valid cross-reference table that pyHanko can sign incrementally."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

A4 = (595, 842)


def _text(value: str) -> bytes:
    raw = value.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


# Advance widths of Helvetica (regular, bold) in thousandths of the font size, from Adobe's
# AFM files, by class of character; enough to keep a line inside the page.
_NARROW = set("iljtfrI.,;:!'|()[]- ")
_WIDE = set("mwMW@%ÆŒæœ")


def _glyph_width(char: str, bold: bool) -> int:
    if char in "—…":
        return 1000
    if char in _NARROW:
        return 333 if bold else 278
    if char in _WIDE:
        return 889 if bold else 833
    if char.isupper():
        return 722 if bold else 667
    if char.isdigit():
        return 556
    return 611 if bold else 556  # lower-case letters, accented or not, and the rest


def text_width(value: str, size: float, bold: bool = False) -> float:
    """An upper estimate of the printed width of `value`, in points."""
    return sum(_glyph_width(c, bold) for c in value) * size / 1000


def fit_lines(value: str, size: float, room: float, *, bold: bool = False) -> list[str]:
    """`value` broken at spaces into lines no wider than `room` points (a single word wider
    than that keeps its own line)."""
    lines: list[str] = []
    for word in value.split(" "):
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and text_width(candidate, size, bold) <= room:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines or [""]


@dataclass
class Page:
    ops: list[bytes] = field(default_factory=list)

    def text(self, x: float, y: float, value: str, size: float = 11, bold: bool = False,
             grey: bool = False) -> None:
        colour = b"0.4 0.4 0.4 rg " if grey else b"0 0 0 rg "
        font = b"/F2" if bold else b"/F1"
        self.ops.append(colour + b"BT " + font + f" {size} Tf {x:.1f} {y:.1f} Td (".encode()
                        + _text(value) + b") Tj ET")

    def rect(self, x: float, y: float, w: float, h: float, rgb: tuple = (0, 0, 0)) -> None:
        self.ops.append(f"{rgb[0]} {rgb[1]} {rgb[2]} rg {x:.2f} {y:.2f} {w:.2f} {h:.2f} re f"
                        .encode())

    def qr(self, x: float, y: float, size: float, data: str) -> None:
        """A QR code whose top-left corner is at (x, y + size)."""
        import segno

        matrix = segno.make(data, error="m", micro=False).matrix
        module = size / len(matrix)
        for row, line in enumerate(matrix):
            for col, dark in enumerate(line):
                if dark:
                    self.rect(x + col * module, y + size - (row + 1) * module, module, module)

    def fitted(self, x: float, y: float, value: str, size: float = 11, *, bold: bool = False,
               right: float = A4[0] - 40, leading: float | None = None) -> float:
        """Text broken at spaces so that no line runs past `right` (a title is never cut at
        the page's edge); returns the next line's y."""
        for line in fit_lines(value, size, right - x, bold=bold):
            self.text(x, y, line, size, bold=bold)
            y -= leading or size * 1.25
        return y

    def wrapped(self, x: float, y: float, value: str, size: float = 11, width: int = 90,
                leading: float = 15) -> float:
        """Text wrapped at `width` characters; returns the next line's y."""
        import textwrap

        for line in textwrap.wrap(value, width) or [""]:
            self.text(x, y, line, size)
            y -= leading
        return y


def build(pages: list[Page], title: str = "") -> bytes:
    objects: list[bytes] = [b"", b""]  # catalog and page tree, filled below
    fonts = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
             b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
             b"/Encoding /WinAnsiEncoding >>"]
    objects += fonts
    page_ids = []
    for page in pages:
        content = b"\n".join(page.ops)
        objects.append(b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content
                       + b"\nendstream")
        content_id = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {A4[0]} {A4[1]}] "
                       f"/Contents {content_id} 0 R /Resources << /Font << /F1 3 0 R "
                       f"/F2 4 0 R >> >> >>".encode())
        page_ids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects[1] = f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode()
    objects.append(b"<< /Title (" + _text(title) + b") /Producer (Convergence back-office) >>")
    info_id = len(objects)
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
              f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
