"""Every bad input gets its JSON error (stable code, French message, right status) and
leaves the database and the file store unchanged."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backoffice.db import db
from backoffice.models import AuditEvent, Candidature, Fichier, Message, Piece, Product
from tests.api.conftest import PDF, PRODUCT


def _state(app) -> tuple:
    db.expire_all()
    counts = tuple(db.scalar(select(func.count()).select_from(m))
                   for m in (Product, Candidature, Fichier, Piece, Message, AuditEvent))
    root = Path(app.config["STORAGE_DIR"])
    files = sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return counts, files


@pytest.fixture
def unchanged(app, world):
    """Assert, after the test's request, that nothing was written anywhere."""
    before = _state(app)
    yield
    assert _state(app) == before


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert body["code"] == code
    assert body["message"] and body["message"][0].isupper()
    return body


def test_missing_token(client, world, unchanged) -> None:
    _error(client.get("/api/v1/candidatures"), 401, "unauthorized")
    response = client.post("/api/v1/products", json=PRODUCT,
                           headers={"Authorization": "Bearer cvg_faux"})
    _error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token(world, ctx) -> None:
    from backoffice.db import utcnow
    from backoffice.models import ApiToken

    for token in db.scalars(select(ApiToken)):
        token.revoked_at = utcnow()
    db.flush()
    _error(world.api.get("/candidatures"), 401, "unauthorized")


def test_malformed_json(world, unchanged) -> None:
    response = world.api.client.post("/api/v1/products", data="{pas du json",
                                      content_type="application/json",
                                      headers=world.api._headers())
    _error(response, 400, "malformed_json")


def test_not_json(world, unchanged) -> None:
    response = world.api.client.post("/api/v1/products", data="name=x",
                                      content_type="application/x-www-form-urlencoded",
                                      headers=world.api._headers())
    _error(response, 415, "unsupported_media_type")


def test_invalid_product_fields(world, unchanged) -> None:
    body = _error(world.api.post("/products", {**PRODUCT, "type": "autre", "name": "",
                                               "certifications": "ISO"}),
                  422, "validation_error")
    assert set(body["details"]["fields"]) == {"type", "name", "certifications"}
    assert body["details"]["fields"]["name"] == "Ce champ est obligatoire."


def test_unknown_demarche_and_foreign_product(world, unchanged) -> None:
    _error(world.api.post("/candidatures", {"product_id": 1, "demarche": "dmn_autre"}),
           422, "validation_error")
    _error(world.api.post("/candidatures", {"product_id": 999999,
                                            "demarche": "dmn_pecan"}), 404, "not_found")


def test_campaign_closed(world, ctx) -> None:
    from datetime import UTC, datetime

    from backoffice.models import Demarche

    product = world.api.product()
    for window in db.get(Demarche, "dmn_pect").windows:
        window.opens_at = datetime(2023, 9, 1, tzinfo=UTC)
        window.closes_at = datetime(2023, 12, 14, 13, 0, tzinfo=UTC)
    db.flush()
    body = _error(world.api.post("/candidatures", {"product_id": product["id"],
                                                   "demarche": "dmn_pect"}),
                  409, "campaign_closed")
    assert "14 décembre 2023 14:00 (heure de Paris)" in body["message"]


@pytest.fixture
def reference(world):
    return world.api.open("dmn_nom_de_marque")


def _upload_error(world, reference, content, name, status, code, **fields):
    fields.setdefault("type", "documentation_fonctionnelle")
    return _error(world.api.upload(f"/candidatures/{reference}/pieces", content, name, **fields),
                  status, code)


def test_upload_errors_leave_nothing_behind(app, world, reference) -> None:
    before = _state(app)
    _upload_error(world, reference, b"", "vide.pdf", 422, "empty_file")
    _upload_error(world, reference, b"MZ\x90\x00 not a pdf", "faux.pdf", 415, "unsupported_type")
    _upload_error(world, reference, b"#!/bin/sh\nrm -rf /\n" + bytes(range(0, 9)) * 50,
                  "script.pdf", 415, "unsupported_type")
    _upload_error(world, reference, PDF, "x.pdf", 422, "unknown_piece_type", type="inconnu")
    _upload_error(world, reference, PDF, "x.pdf", 422, "validation_error", type="")
    response = world.api.post(f"/candidatures/{reference}/pieces",
                              data={"type": "documentation_fonctionnelle"},
                              content_type="multipart/form-data")
    _error(response, 422, "validation_error")
    assert _state(app) == before


def test_oversized_upload_is_refused_before_reading_the_body(app, world, reference) -> None:
    app.extensions["upload_limits"]["piece"] = 1024
    try:
        before = _state(app)
        body = _upload_error(world, reference, PDF + b"0" * 200_000, "gros.pdf", 413,
                             "file_too_large")
        assert "Mo" in body["message"] or "Ko" in body["message"] or "octets" in body["message"]
        assert _state(app) == before
    finally:
        from backoffice.uploads import limits

        app.extensions["upload_limits"] = limits(app)


def test_oversized_stream_without_content_length_is_cut(app, world, reference) -> None:
    """The limit holds while streaming too, when the size was not announced."""
    from backoffice.uploads import MULTIPART_OVERHEAD

    app.extensions["upload_limits"]["piece"] = 100_000
    try:
        before = _state(app)
        # under limit + overhead announced, over the file limit in the file itself
        content = PDF + b"0" * (100_000 + MULTIPART_OVERHEAD // 2)
        _upload_error(world, reference, content, "gros.pdf", 413, "file_too_large")
        assert _state(app) == before
    finally:
        from backoffice.uploads import limits

        app.extensions["upload_limits"] = limits(app)


def test_file_name_is_sanitised(world, reference) -> None:
    response = world.api.upload(f"/candidatures/{reference}/pieces", PDF,
                                "../../etc/\u202egnp.pdf", type="documentation_fonctionnelle")
    assert response.status_code == 201
    name = response.json["file"]["name"]
    assert "/" not in name and ".." not in name and "\u202e" not in name


def _zip(entries: dict[str, bytes], **kw) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def lg_reference(world):
    from backoffice.workflow import forms
    from tests.api.conftest import ans

    reference = world.api.open("dmn_ligne_generique")
    world.api.fill(reference, "recevabilite", ["documentation_fonctionnelle",
                                               "attestation_protection_donnees",
                                               "declaration_marquage_ce",
                                               "reglement_phase_transitoire"], ["GEN"])
    world.api.post(f"/candidatures/{reference}/steps/recevabilite/submit")
    ans(reference, forms.prendre, "recevabilite", actor=world.dmn_verif)
    ans(reference, forms.valider, "recevabilite", actor=world.dmn_verif)
    return reference


@pytest.mark.parametrize(("entries", "reason"), [
    ({"../evil.pdf": PDF}, ".."),
    ({"/etc/passwd": b"root"}, "absolu"),
])
def test_unsafe_zip_is_refused(app, world, lg_reference, entries, reason) -> None:
    before = _state(app)
    body = _error(world.api.upload(f"/candidatures/{lg_reference}/preuves-pour-avis",
                                   _zip(entries), "preuves.zip"), 422, "unsafe_archive")
    assert body["message"]
    assert _state(app) == before


def test_zip_bomb_is_refused(app, world, lg_reference) -> None:
    before = _state(app)
    _error(world.api.upload(f"/candidatures/{lg_reference}/preuves-pour-avis",
                            _zip({"INS 1.1.pdf": b"\0" * (40 * 1024 * 1024)}), "bombe.zip"),
           422, "unsafe_archive")
    assert _state(app) == before


def test_good_zip_lists_entries_and_flags_nested_archives(world, lg_reference) -> None:
    content = _zip({"INS 1.1.pdf": PDF, "ANN/inner.zip": _zip({"a.txt": b"a"})})
    response = world.api.upload(f"/candidatures/{lg_reference}/preuves-pour-avis", content,
                                "preuves_INS.zip")
    assert response.status_code == 201, response.json
    assert {e["name"] for e in response.json["entries"]} == {"INS 1.1.pdf", "ANN/inner.zip"}
    assert response.json["nested_archives"] == ["ANN/inner.zip"]
    # a second upload supersedes the first
    again = world.api.upload(f"/candidatures/{lg_reference}/preuves-pour-avis", content,
                             "preuves_INS_v2.zip")
    assert again.status_code == 201
    from backoffice.models import ZipPourAvis

    uploads = db.scalars(select(ZipPourAvis).order_by(ZipPourAvis.id)).all()
    assert [u.superseded_at is not None for u in uploads] == [True, False]


def test_pdf_where_a_zip_is_expected(app, world, lg_reference) -> None:
    before = _state(app)
    _error(world.api.upload(f"/candidatures/{lg_reference}/preuves-pour-avis", PDF, "x.zip"),
           415, "unsupported_type")
    assert _state(app) == before


def test_action_in_the_wrong_state(world, reference, unchanged) -> None:
    body = _error(world.api.post(f"/candidatures/{reference}/sections/INS/submit"),
                  404, "unknown_section")
    assert "INS" in body["message"]


def test_submit_incomplete_step(world, reference) -> None:
    body = _error(world.api.post(f"/candidatures/{reference}/steps/recevabilite/submit"),
                  422, "incomplete")
    assert "Documentation fonctionnelle" in body["message"]
    _error(world.api.post(f"/candidatures/{reference}/steps/college/submit"),
           422, "unknown_step")


def test_invalid_form(world, reference) -> None:
    _error(world.api.put(f"/candidatures/{reference}/forms/recevabilite",
                         {"contact": {"email": "pas-une-adresse"}}), 422, "validation_error")
    _error(world.api.put(f"/candidatures/{reference}/forms/recevabilite", [1, 2]),
           422, "validation_error")
    _error(world.api.put(f"/candidatures/{reference}/forms/recevabilite",
                         {"profils": ["INCONNU"]}), 422, "unknown_profil")


def test_unknown_route_and_method(world) -> None:
    _error(world.api.get("/nulle-part"), 404, "not_found")
    _error(world.api.delete("/candidatures"), 405, "method_not_allowed")


def test_storage_has_no_temporary_leftovers(app, world, reference) -> None:
    _upload_error(world, reference, b"MZ\x90\x00\x03\x00", "x.pdf", 415, "unsupported_type")
    tmp = Path(app.config["STORAGE_DIR"]) / "tmp"
    assert not tmp.exists() or os.listdir(tmp) == []
