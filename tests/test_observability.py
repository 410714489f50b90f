"""Observability (issue 14, item 7): the probes answer JSON whatever is down, each request
has an id (from a trusted proxy or generated) found in the response, the audit trail and the
logs, and the logs are JSON lines with the request's fields in production, readable lines
otherwise. Metrics: tests/test_metrics.py; secrets kept out of the logs:
tests/security/test_log_secrets.py; gunicorn's access log: tests/deploy/."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backoffice import create_app
from backoffice.models import AuditEvent
from tests.conftest import TEST_REDIS_URL, _postgres_url, base_config, missing_tier
from tests.helpers import csrf_token

HEX32 = re.compile(r"[0-9a-f]{32}")
UNREACHABLE_DATABASE = "postgresql+psycopg://convergence@127.0.0.1:9/convergence"


def _app(tmp: Path, url: str, **overrides: Any):
    return create_app({**base_config(tmp, url), **overrides})


# --- liveness and readiness ----------------------------------------------------------------

def test_liveness_answers_without_a_database(tmp_path) -> None:
    app = _app(tmp_path, UNREACHABLE_DATABASE)
    client = app.test_client()
    with client.session_transaction() as session:  # a signed-in browser's cookie: the
        session["_user_id"] = "1"                  # session hook would query the database
        session["_fresh"] = True
    for _ in range(3):
        response = client.get("/sante")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok"}


def test_readiness_names_the_database_when_it_is_down(tmp_path) -> None:
    (tmp_path / "storage").mkdir()
    app = _app(tmp_path, UNREACHABLE_DATABASE)
    response = app.test_client().get("/sante/pret")
    assert response.status_code == 503
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == "indisponible"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"] == {"status": "echec",
                                          "message": "base de données injoignable"}
    assert body["checks"]["schema"] == {"status": "non_verifie"}
    assert body["checks"]["storage"] == {"status": "ok"}
    assert body["checks"]["redis"] == {"status": "non_configure"}


@pytest.fixture
def ready_app(app, tmp_path, monkeypatch):
    """The suite's app (either tier), with a storage folder that exists."""
    (tmp_path / "storage").mkdir()
    monkeypatch.setitem(app.config, "STORAGE_DIR", str(tmp_path / "storage"))
    app.extensions.pop("readiness_failing", None)  # what earlier tests' probes remembered
    return app


def test_readiness_is_200_when_everything_answers(ready_app) -> None:
    response = ready_app.test_client().get("/sante/pret")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "pret", "failing": [], "checks": {
        "database": {"status": "ok"}, "schema": {"status": "ok"}, "redis":
            {"status": "non_configure"}, "storage": {"status": "ok"}}}
    assert response.headers["Cache-Control"] == "no-store"


def test_readiness_names_redis_when_it_is_down(ready_app, monkeypatch) -> None:
    monkeypatch.setitem(ready_app.config, "REDIS_URL", "redis://127.0.0.1:9/0")
    monkeypatch.delitem(ready_app.extensions, "readiness_redis", raising=False)
    response = ready_app.test_client().get("/sante/pret")
    assert response.status_code == 503
    assert response.get_json()["failing"] == ["redis"]
    assert response.get_json()["checks"]["redis"] == {"status": "echec",
                                                      "message": "Redis injoignable"}
    ready_app.extensions.pop("readiness_redis", None)


@pytest.mark.redis
def test_readiness_with_a_real_redis(ready_app, monkeypatch) -> None:
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set (Redis tier)")
    monkeypatch.setitem(ready_app.config, "REDIS_URL", TEST_REDIS_URL)
    monkeypatch.delitem(ready_app.extensions, "readiness_redis", raising=False)
    response = ready_app.test_client().get("/sante/pret")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"] == {"status": "ok"}
    ready_app.extensions.pop("readiness_redis", None)


def test_readiness_names_the_storage_when_it_cannot_take_a_file(ready_app, monkeypatch) -> None:
    for folder, message in (("/sys", "stockage des fichiers inaccessible en écriture"),
                            ("/nonexistent/partage",
                             "le dossier de stockage /nonexistent/partage n'existe pas")):
        monkeypatch.setitem(ready_app.config, "STORAGE_DIR", folder)
        response = ready_app.test_client().get("/sante/pret")
        assert response.status_code == 503
        assert response.get_json()["failing"] == ["storage"]
        assert response.get_json()["checks"]["storage"] == {"status": "echec",
                                                            "message": message}


@pytest.fixture
def empty_database_url(backend, tmp_path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    else:
        yield _postgres_url(f"ready_{secrets.token_hex(4)}")


def test_readiness_names_the_schema_when_it_is_not_at_head(empty_database_url, tmp_path) -> None:
    (tmp_path / "storage").mkdir()
    app = _app(tmp_path, empty_database_url)
    try:
        response = app.test_client().get("/sante/pret")
        assert response.status_code == 503
        assert response.get_json()["failing"] == ["schema"]
        assert response.get_json()["checks"]["schema"]["message"].startswith(
            "La base de données n'est pas initialisée")
    finally:
        app.extensions["db_engine"].dispose()


def test_a_failing_probe_is_logged_when_it_starts_and_ends_not_each_time(
        ready_app, monkeypatch, caplog) -> None:
    client = ready_app.test_client()
    with caplog.at_level(logging.WARNING, logger="backoffice.main.health"):
        monkeypatch.setitem(ready_app.config, "STORAGE_DIR", "/sys")
        for _ in range(3):
            client.get("/sante/pret")
        monkeypatch.undo()
        (Path(ready_app.config["STORAGE_DIR"])).mkdir(exist_ok=True)
        client.get("/sante/pret")
    messages = [r.getMessage() for r in caplog.records if r.name == "backoffice.main.health"]
    assert len(messages) == 2
    assert messages[0].startswith("readiness: storage failing")
    assert messages[1] == "readiness: storage is back"


# --- request id ----------------------------------------------------------------------------

def test_each_request_gets_an_id_returned_and_written_in_the_audit(client, ctx) -> None:
    first, second = client.get("/connexion"), client.get("/connexion")
    assert HEX32.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    failed = client.post("/connexion", data={"email": "inconnu@ans.test.fr",
                                              "password": "faux",
                                              "csrf_token": csrf_token(client)})
    row = ctx.scalars(select(AuditEvent).where(AuditEvent.action == "auth.echec_connexion")
                      .order_by(AuditEvent.id.desc())).first()
    assert row.request_id == failed.headers["X-Request-ID"]


def test_without_a_trusted_proxy_the_incoming_id_is_ignored(client, ctx) -> None:
    response = client.get("/sante", headers={"X-Request-ID": "choisi-par-le-client"})
    assert HEX32.fullmatch(response.headers["X-Request-ID"])


@pytest.fixture(scope="module")
def proxied_app(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proxied")
    app = create_app({**base_config(tmp, engine.url.render_as_string(hide_password=False)),
                      "TRUSTED_PROXIES": 1})
    app.extensions["db_engine"].dispose()
    app.extensions["db_engine"] = engine
    return app


@pytest.mark.parametrize(("incoming", "kept"), [
    ("4f7c1a0e9b2d4c3a8e6f5d1b0a9c8e7f", True),  # nginx's $request_id
    ("lb-2026.03.01:42_a", True),
    ("x" * 64, True),
    ("x" * 65, False),  # longer than the audit column
    ("<script>", False),
    ("id Set-Cookie: x=1", False),
    ("identifiant-é", False),
    ("", False),
])
def test_behind_a_trusted_proxy_a_plain_short_id_is_kept(proxied_app, incoming, kept) -> None:
    response = proxied_app.test_client().get("/sante", headers={"X-Request-ID": incoming})
    returned = response.headers["X-Request-ID"]
    assert (returned == incoming) is kept
    if not kept:
        assert HEX32.fullmatch(returned)
