"""Requests not worth processing are refused before the application runs them (issue 19,
item 6; backoffice/overload.py): a client that has gone, a request that waited in the queue
longer than REQUEST_QUEUE_TIMEOUT_SECONDS. The real thing, gunicorn behind nginx with
clients that disconnect, is in tests/deploy/test_overload.py."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from backoffice import create_app
from backoffice.overload import (
    PAGE_PATH,
    RETRY_AFTER_SECONDS,
    SHED,
    LoadShedding,
    client_gone,
    request_start,
)
from tests.conftest import base_config


class Recorder:
    """A WSGI application that notes each request it runs."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def __call__(self, environ, start_response):
        self.ran.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"fait"]


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    yield server, client
    for sock in (server, client):
        sock.close()


def call(app, path: str = "/instruction/file", method: str = "GET", **environ):
    answer: dict = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method, **environ},
                        start_response))
    return answer["status"], answer["headers"], body


def shed_count(reason: str) -> float:
    return SHED.labels(reason)._value.get()


def test_an_open_connection_is_not_gone_a_closed_one_is(pair) -> None:
    server, client = pair
    assert not client_gone(server)
    client.sendall(b"GET / HTTP/1.1\r\n\r\n")  # unread data: still there
    assert not client_gone(server)
    client.close()  # gone, even with the request's bytes still unread
    assert client_gone(server)


def test_a_request_whose_client_has_gone_is_not_run(pair, caplog) -> None:
    server, client = pair
    inner = Recorder()
    app = LoadShedding(inner, budget=30, trust_proxy=True)
    before = shed_count("client_gone")
    status, headers, _ = call(app, **{"gunicorn.socket": server})
    assert status == "200 OK" and inner.ran == ["/instruction/file"]  # still there: served
    client.close()
    with caplog.at_level(logging.WARNING, logger="backoffice.overload"):
        status, headers, body = call(app, "/instruction/file", **{
            "gunicorn.socket": server, "HTTP_X_REQUEST_ID": "4f7c1a0e9b2d4c3a8e6f5d1b0a9c8e7f"})
    assert status.startswith("503")
    assert inner.ran == ["/instruction/file"]  # the second one never ran
    assert body == PAGE_PATH.read_bytes()
    assert "Service momentanément indisponible" in body.decode()
    assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Request-ID"] == "4f7c1a0e9b2d4c3a8e6f5d1b0a9c8e7f"
    assert shed_count("client_gone") == before + 1
    [record] = [r for r in caplog.records if r.name == "backoffice.overload"]
    assert record.getMessage().startswith("request shed (client_gone): GET /instruction/file")
    assert record.request_id == "4f7c1a0e9b2d4c3a8e6f5d1b0a9c8e7f" and record.status == 503


@pytest.mark.parametrize(("waited", "budget", "run"), [
    (0.2, 30, True),
    (31, 30, False),
    (31, 0, True),  # 0: never refused for waiting
])
def test_a_request_that_waited_past_the_budget_is_refused(waited, budget, run) -> None:
    inner = Recorder()
    app = LoadShedding(inner, budget=budget, trust_proxy=True)
    before = shed_count("waited_too_long")
    status, headers, _ = call(app, HTTP_X_REQUEST_START=f"t={time.time() - waited:.3f}")
    assert (inner.ran == ["/instruction/file"]) is run
    assert status.startswith("200" if run else "503")
    assert shed_count("waited_too_long") == before + (0 if run else 1)


def test_without_a_trusted_proxy_x_request_start_is_ignored() -> None:
    inner = Recorder()
    app = LoadShedding(inner, budget=1, trust_proxy=False)
    status, headers, _ = call(app, HTTP_X_REQUEST_START="t=1000000000.000",
                              HTTP_X_REQUEST_ID="choisi-par-le-client")
    assert status.startswith("200") and inner.ran


def test_the_probes_are_never_refused(pair) -> None:
    server, client = pair
    client.close()
    inner = Recorder()
    app = LoadShedding(inner, budget=1, trust_proxy=True)
    for path in ("/sante", "/sante/pret"):
        status, _, _ = call(app, path, **{"gunicorn.socket": server,
                                          "HTTP_X_REQUEST_START": "t=1000000000.000"})
        assert status.startswith("200")
    assert inner.ran == ["/sante", "/sante/pret"]


def test_the_api_gets_json(pair) -> None:
    server, client = pair
    client.close()
    app = LoadShedding(Recorder(), budget=30, trust_proxy=True)
    status, headers, body = call(app, "/api/v1/candidatures", "POST",
                                 **{"gunicorn.socket": server})
    assert status.startswith("503")
    assert headers["Content-Type"] == "application/json"
    assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert json.loads(body)["code"] == "service_unavailable"


@pytest.mark.parametrize(("header", "seconds"), [
    ("t=1733250000.123", 1733250000.123),  # nginx's $msec
    ("t=1733250000123", 1733250000.123),  # milliseconds
    ("t=1733250000123456", 1733250000.123456),  # microseconds
    ("1733250000.5", 1733250000.5),
    ("t=", None), ("t=abc", None), ("t=nan", None), ("t=-5", None), ("", None),
])
def test_request_start_is_read_in_seconds(header, seconds) -> None:
    found = request_start(header)
    assert found == pytest.approx(seconds) if seconds else found is None


@pytest.fixture(scope="module")
def proxied_app(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("overload")
    app = create_app({**base_config(tmp, engine.url.render_as_string(hide_password=False)),
                      "TRUSTED_PROXIES": 1, "REQUEST_QUEUE_TIMEOUT_SECONDS": 5})
    app.extensions["db_engine"].dispose()
    app.extensions["db_engine"] = engine
    return app


def test_the_application_sheds_before_any_query_or_session(proxied_app, engine) -> None:
    """Through create_app(): the middleware wraps everything (ProxyFix and Flask included),
    so a refused request costs no query, and a fresh one is served as usual."""
    assert isinstance(proxied_app.wsgi_app, LoadShedding)
    statements: list[str] = []

    def note(*args) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", note)
    try:
        client = proxied_app.test_client()
        stale = client.get("/connexion", headers={"X-Request-Start": f"t={time.time() - 6}"})
        assert stale.status_code == 503 and statements == []
        assert stale.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert "Service momentanément indisponible" in stale.get_data(as_text=True)
        assert "Set-Cookie" not in stale.headers
        fresh = client.get("/connexion", headers={"X-Request-Start": f"t={time.time():.3f}"})
        assert fresh.status_code == 200
        probe = client.get("/sante", headers={"X-Request-Start": "t=1000000000.000"})
        assert probe.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", note)
