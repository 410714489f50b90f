"""Behind a proxy (issue 14, item 4): TRUSTED_PROXIES hops of X-Forwarded-For are believed,
no more. With one trusted proxy, 20 people failing a login from 20 addresses lock no one
else out (before ProxyFix every user had the proxy's address: 20 failures locked everyone
out for 15 minutes); with no trusted proxy the header is ignored, so a client cannot choose
its own address to escape the per-address limit."""

from __future__ import annotations

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import EnvironBuilder

from backoffice import create_app
from tests.conftest import base_config
from tests.factories import PASSWORD, UserFactory
from tests.helpers import csrf_token

PROXY = "10.0.0.2"  # the address the application sees: nginx's
TOO_MANY = "Trop de tentatives de connexion infructueuses."


@pytest.fixture(scope="module", params=[0, 1], ids=["no-proxy", "one-proxy"])
def app(request, engine, tmp_path_factory):
    """This module's app, with 0 then 1 trusted proxy (conftest's client/ctx use it)."""
    tmp = tmp_path_factory.mktemp("proxy")
    app = create_app({**base_config(tmp, engine.url.render_as_string(hide_password=False)),
                      "TRUSTED_PROXIES": request.param})
    app.extensions["db_engine"].dispose()
    app.extensions["db_engine"] = engine
    return app


def _login(client, email: str, password: str, forwarded_for: str):
    return client.post(
        "/connexion", data={"email": email, "password": password,
                            "csrf_token": csrf_token(client)},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": PROXY})


def test_failures_from_twenty_addresses_lock_none_of_the_others(app, client, ctx) -> None:
    limit = app.config["LOGIN_MAX_FAILURES_ADDRESS"]
    assert limit == 20
    for n in range(limit):
        response = _login(client, f"personne{n}@ans.test.fr", "mauvais",
                          forwarded_for=f"198.51.100.{n + 1}")
        assert response.status_code == 200, n  # a wrong password, not a lock-out
    user = UserFactory()
    answer = _login(client, user.email, PASSWORD, forwarded_for="198.51.100.200")
    if app.extensions["trusted_proxies"] == 1:
        # each failure counted against its own client: the 21st person signs in
        assert answer.status_code == 302
        assert answer.headers["Location"] == "/connexion/code"
        # and any of the 20, one failure each, may try again
        client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/")})
        again = _login(client, "personne3@ans.test.fr", "mauvais", "198.51.100.4")
        assert again.status_code == 200
    else:
        # the header is ignored: all 20 failures were the proxy's, whoever sent them
        assert answer.status_code == 429
        assert TOO_MANY in answer.get_data(as_text=True)


def test_a_forged_x_forwarded_for_does_not_escape_the_address_limit(app, client, ctx) -> None:
    """An attacker rotates the value it sends: with one proxy only the entry the proxy
    appended counts (the attacker's real address); with none, the proxy's own address."""
    limit = app.config["LOGIN_MAX_FAILURES_ADDRESS"]
    for n in range(limit):
        _login(client, f"cible{n}@ans.test.fr", "mauvais",
               forwarded_for=f"203.0.113.{n + 1}, 192.0.2.66")
    user = UserFactory()
    answer = _login(client, user.email, PASSWORD, forwarded_for="203.0.113.250, 192.0.2.66")
    assert answer.status_code == 429
    # someone else behind the same proxy is not locked out when the proxy is trusted
    other = _login(client, user.email, PASSWORD, forwarded_for="192.0.2.77")
    assert other.status_code == (302 if app.extensions["trusted_proxies"] else 429)


def test_scheme_and_host_come_from_the_trusted_proxy_only(app, monkeypatch) -> None:
    """What the application is handed: behind a trusted proxy the client's address, scheme
    and host (links and redirects point at the public site); without one, the connection's
    own, whatever the headers say."""
    environ = EnvironBuilder(path="/", environ_base={"REMOTE_ADDR": PROXY}, headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "backoffice.ans.example",
        "X-Forwarded-For": "198.51.100.9", "Host": "127.0.0.1:8000"}).get_environ()
    seen: dict[str, str] = {}

    def application(environ, start_response):
        seen.update(addr=environ["REMOTE_ADDR"], scheme=environ["wsgi.url_scheme"],
                    host=environ["HTTP_HOST"])
        start_response("204 No Content", [])
        return [b""]

    # the load shedding (backoffice/overload.py) wraps the proxy fix: it reads the
    # client's socket first
    inner = getattr(app.wsgi_app, "wsgi_app", app.wsgi_app)
    if app.extensions["trusted_proxies"]:
        assert isinstance(inner, ProxyFix)
        monkeypatch.setattr(inner, "app", application)
        inner(environ, lambda *_args: None)
        assert seen == {"addr": "198.51.100.9", "scheme": "https",
                        "host": "backoffice.ans.example"}
    else:
        assert not isinstance(inner, ProxyFix)
        with app.request_context(environ):
            from flask import request

            assert (request.remote_addr, request.scheme, request.host) == (
                PROXY, "http", "127.0.0.1:8000")


def test_metrics_network_is_checked_against_the_real_client(app, client, ctx, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "METRICS_ALLOWED_NETWORKS", "10.8.0.0/16")
    inside = client.get("/metrics", headers={"X-Forwarded-For": "10.8.1.1"},
                        environ_base={"REMOTE_ADDR": PROXY})
    outside = client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.1"},
                         environ_base={"REMOTE_ADDR": "10.8.0.9"})
    if app.extensions["trusted_proxies"]:
        assert inside.status_code == 200
        assert outside.status_code == 403  # the proxy is in the network, its client is not
    else:
        assert inside.status_code == 403  # a forged header does not open the metrics
        assert outside.status_code == 200  # the connection's own address decides
