"""Small real files for the demo data: one-page PDFs and the ligne générique's zip."""

from __future__ import annotations

import io
import zipfile

from backoffice.db import db
from backoffice.models import Candidature, Fichier
from backoffice.storage import KINDS_DOCUMENT, KINDS_ZIP, sanitize_filename


def _pdf_text(value: str) -> str:
    ascii_only = value.encode("latin-1", "replace").decode("latin-1")
    return ascii_only.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def one_page_pdf(title: str, line: str = "Document de démonstration") -> bytes:
    """A valid one-page PDF showing two lines of text (Helvetica, WinAnsi)."""
    content = (f"BT /F1 18 Tf 72 760 Td ({_pdf_text(title)}) Tj ET\n"
               f"BT /F1 12 Tf 72 730 Td ({_pdf_text(line)}) Tj ET\n").encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
              "%%EOF\n".encode())
    return out.getvalue()


def preuves_zip(codes: list[str], extra: dict[str, bytes] | None = None) -> bytes:
    """A ligne générique zip: one PDF per exigence code, plus anything in `extra`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for code in codes:
            archive.writestr(f"{code}.pdf", one_page_pdf(f"Preuve {code}"))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def store_bytes(candidature: Candidature, name: str, data: bytes) -> Fichier:
    from backoffice.uploads import storage

    allowed = set(KINDS_ZIP) if name.endswith(".zip") else set(KINDS_DOCUMENT)
    stored = storage().save(io.BytesIO(data), max_size=len(data) + 1, allowed=allowed)
    fichier = Fichier(candidature_id=candidature.id, storage_key=stored.key,
                      original_name=sanitize_filename(name), size=stored.size,
                      sha256=stored.sha256, kind=stored.kind, content_type=stored.content_type)
    db.add(fichier)
    db.flush()
    return fichier


def demo_file(candidature: Candidature, name: str) -> Fichier:
    """The Driver's file factory for the demo: a real PDF, or a real zip of preuves."""
    if name.endswith(".zip"):
        from backoffice.workflow.referentiels import exigence_codes

        codes = sorted(exigence_codes(candidature))[:6]
        data = preuves_zip(codes, {"notes de version.txt": b"Version 0.1\n"})
    else:
        data = one_page_pdf(name.removesuffix(".pdf").replace("_", " "),
                            f"Candidature {candidature.reference}")
    return store_bytes(candidature, name, data)
