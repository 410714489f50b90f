"""Issue 15, finding 8: the API's idempotency is keyed on content. Before the fix, the same
Idempotency-Key with a file of the same name and size but other bytes replayed the first
answer and silently dropped the new bytes; two requests with one key at the same time
both ran to the end (the loser's work rolled back with a generic 409)."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select, text

from backoffice import create_app
from backoffice.db import db, utcnow
from backoffice.models import Fichier, IdempotencyKey, Piece
from backoffice.seed import ensure_delay_rules, new_api_token
from backoffice.workflow.candidatures import ouvrir
from backoffice.workflow.referentiels import load_json
from tests.api.conftest import PDF, PRODUCT, REFERENTIEL, world  # noqa: F401 - fixture
from tests.conftest import BACKENDS, base_config, fresh_database_url
from tests.factories import OrganisationFactory, ProductFactory
from tests.security.live import serving

OTHER_PDF = PDF.replace(b"1 0 obj", b"2 0 obj")  # same size, other bytes
assert len(OTHER_PDF) == len(PDF) and OTHER_PDF != PDF


def _files(ctx) -> int:
    return ctx.scalar(select(func.count()).select_from(Fichier))


def test_same_key_same_name_and_size_other_bytes_is_refused(world, ctx) -> None:  # noqa: F811
    reference = world.api.open("dmn_nom_de_marque")
    assert world.api.put(f"/candidatures/{reference}/forms/recevabilite",
                         {"produit": {"nom": "Careoptim"}}).status_code == 200
    path = f"/candidatures/{reference}/pieces"
    headers = {"Idempotency-Key": "piece-1"}
    first = world.api.upload(path, PDF, "doc.pdf", headers=headers,
                             type="documentation_fonctionnelle", step="recevabilite")
    assert first.status_code == 201, first.json
    files = _files(ctx)
    other = world.api.upload(path, OTHER_PDF, "doc.pdf", headers=headers,
                             type="documentation_fonctionnelle", step="recevabilite")
    assert other.status_code == 422 and other.json["code"] == "idempotency_key_reused"
    assert "Idempotent-Replayed" not in other.headers
    same = world.api.upload(path, PDF, "doc.pdf", headers=headers,
                            type="documentation_fonctionnelle", step="recevabilite")
    assert same.status_code == 201 and same.json == first.json
    assert same.headers["Idempotent-Replayed"] == "true"
    # another field with the same file is another request too
    moved = world.api.upload(path, PDF, "doc.pdf", headers=headers,
                             type="autres_documents", step="recevabilite")
    assert moved.status_code == 422 and moved.json["code"] == "idempotency_key_reused"
    assert _files(ctx) == files  # neither the refused nor the replayed bytes were kept
    stored = ctx.scalar(select(Fichier.sha256).where(Fichier.id == first.json["file"]["id"]))
    import hashlib

    assert stored == hashlib.sha256(PDF).hexdigest()


def test_json_bodies_are_compared_byte_for_byte(world) -> None:  # noqa: F811
    import json

    headers = {"Idempotency-Key": "produit-1", "Content-Type": "application/json"}
    body = json.dumps(PRODUCT).encode()
    first = world.api.client.post("/api/v1/products", data=body,
                                  headers={**world.api._headers(), **headers})
    assert first.status_code == 201
    again = world.api.client.post("/api/v1/products", data=body,
                                  headers={**world.api._headers(), **headers})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == first.json
    changed = json.dumps({**PRODUCT, "description": "Autre description"}).encode()
    refused = world.api.client.post("/api/v1/products", data=changed,
                                    headers={**world.api._headers(), **headers})
    assert refused.status_code == 422 and refused.json["code"] == "idempotency_key_reused"


def test_a_refused_request_leaves_its_key_free(world, ctx) -> None:  # noqa: F811
    headers = {"Idempotency-Key": "produit-2"}
    assert world.api.post("/products", {**PRODUCT, "type": "x"}, headers=headers) \
        .status_code == 422
    assert ctx.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "produit-2")) is None
    assert world.api.post("/products", PRODUCT, headers=headers).status_code == 201


# --- two requests with one key at the same time (real server, each database) ----------

@pytest.fixture(params=BACKENDS)
def server(request, tmp_path):
    url = fresh_database_url(request.param, tmp_path, "idempotency")
    app = create_app({**base_config(tmp_path, url), "JOBS_RAISE": False})
    with app.app_context():
        from backoffice.seed import ensure_demarches

        ensure_demarches()
        load_json(REFERENTIEL)
        ensure_delay_rules()
        organisation = OrganisationFactory()
        token, raw = new_api_token(organisation, "portail")
        # used just now: the requests do not write the token's row (which would line
        # them up on its lock before they reach the idempotency key)
        token.last_used_at = utcnow()
        db.add(token)
        from backoffice.workflow.base import Industriel

        candidature = ouvrir(ProductFactory(organisation=organisation), "dmn_nom_de_marque",
                             actor=Industriel(organisation))
        reference = candidature.reference
        db.commit()
    with serving(app) as base:
        yield app, base, raw, reference, url, request.param
    app.extensions["db_engine"].dispose()


class _Hold:
    """Hold the candidature's row (PostgreSQL) or the write lock (SQLite) while both
    requests start, so that both are inside the server before either can finish."""

    def __init__(self, backend: str, url: str, reference: str) -> None:
        if backend == "postgresql":
            self.engine = create_engine(url)
            self.conn = self.engine.connect()
            self.tx = self.conn.begin()
            self.conn.execute(text("SELECT id FROM candidature WHERE reference = :r FOR UPDATE"),
                              {"r": reference})
        else:
            self.engine = None
            self.raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            self.raw.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.engine is not None:
            self.tx.rollback()
            self.conn.close()
            self.engine.dispose()
        else:
            self.raw.execute("ROLLBACK")
            self.raw.close()


def test_two_parallel_requests_with_one_key_are_processed_once(server) -> None:
    app, base, token, reference, url, backend = server
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "meme-cle"}
    target = f"{base}/api/v1/candidatures/{reference}/pieces"

    def post():
        return requests.post(target, headers=headers, timeout=60,
                             data={"type": "documentation_fonctionnelle",
                                   "step": "recevabilite"},
                             files={"file": ("doc.pdf", PDF, "application/pdf")})

    hold = _Hold(backend, url, reference)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(post) for _ in range(2)]
        time.sleep(0.7)  # both requests are inside the server, one waiting on the other
        assert not any(f.done() for f in futures)
        hold.release()
        responses = [f.result() for f in futures]
    statuses = sorted(r.status_code for r in responses)
    processed = [r for r in responses
                 if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(processed) == 1, statuses
    first = processed[0]
    second = next(r for r in responses if r is not first)
    if second.status_code == 201:  # the replay of the first answer
        assert second.headers.get("Idempotent-Replayed") == "true"
        assert second.json() == first.json()
    else:
        assert second.status_code == 409, statuses
        assert second.json()["code"] == "idempotency_key_in_progress"
    with app.app_context():
        assert db.scalar(select(func.count()).select_from(Piece)) == 1
        assert db.scalar(select(func.count()).select_from(Fichier)) == 1
        assert db.scalar(select(IdempotencyKey.status_code)) == 201
    root = Path(app.config["STORAGE_DIR"])
    stored = [p for p in root.rglob("*") if p.is_file()
              and p.relative_to(root).parts[0] != "tmp"]
    assert len(stored) == 1, stored  # the loser's bytes did not stay in the store
