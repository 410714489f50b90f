"""Small real files for the demo data: one-page PDFs and the ligne générique's zip."""

from __future__ import annotations

import io
import zipfile

from backoffice.db import db
from backoffice.models import Candidature, Fichier
from backoffice.storage import KINDS_DOCUMENT, KINDS_ZIP, sanitize_filename


def one_page_pdf(title: str, line: str = "Document de démonstration") -> bytes:
    """A valid one-page PDF showing two lines of text."""
    from backoffice import pdf

    page = pdf.Page()
    page.text(72, 760, title, 18)
    page.text(72, 730, line, 12)
    return pdf.build([page], title=title)


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
        from backoffice.workflow.referentiels import exigence_codes, selected_sections

        # the exigences the candidature's profiles select (the vérificateur's analysis
        # reads the zip against those), else any of its référentiel
        selected = [e.code for s in selected_sections(candidature) for e in s.exigences] \
            if candidature.referentiel_id else []
        codes = sorted(selected or exigence_codes(candidature))[:6]
        data = preuves_zip(codes, {"notes de version.txt": b"Version 0.1\n"})
    else:
        data = one_page_pdf(name.removesuffix(".pdf").replace("_", " "),
                            f"Candidature {candidature.reference}")
    return store_bytes(candidature, name, data)
