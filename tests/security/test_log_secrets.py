"""No password, token, TOTP code or key, session cookie or SQL parameter in any log (issue 14,
item 7). The login, second-factor, enrolment, recovery-code and API-token requests of the
attack corpus are sent for real while every logger records at DEBUG — SQLAlchemy's
statement log included — and the captured lines are searched for each secret used.
gunicorn's access log gets the same search in tests/deploy/test_behind_nginx.py."""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
from collections.abc import Iterator

import pytest

from backoffice.auth.totp import current_code
from backoffice.db import utcnow
from backoffice.logs import JsonFormatter, RequestContextFilter
from backoffice.models import ApiToken
from tests.factories import PASSWORD, OrganisationFactory, UserFactory
from tests.helpers import csrf_token, login_enrolling, logout, totp_code


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record of every logger, formatted as production writes it. Listed before
    `client`: SQLAlchemy decides whether a connection logs its statements when the
    connection is made."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root, sql = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = root.level, sql.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.INFO)  # every statement, as someone debugging would turn on
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        sql.setLevel(levels[1])


def _token(organisation, *, revoked: bool = False) -> tuple[ApiToken, str]:
    raw = "cvg_" + secrets.token_urlsafe(32)
    return ApiToken(organisation=organisation, name="portail", prefix=raw[:10],
                    token_hash=hashlib.sha256(raw.encode()).hexdigest(),
                    revoked_at=utcnow() if revoked else None), raw


def _post(client, path: str, **data: str):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def test_no_secret_reaches_the_logs(captured, client, ctx) -> None:
    used: dict[str, str] = {}

    # password step: a wrong password, then the right one of an account to enrol
    user = UserFactory(roles=["verificateur"], totp=False)
    used["wrong password"] = "Mauvais-" + secrets.token_urlsafe(12)
    assert _post(client, "/connexion", email=user.email,
                 password=used["wrong password"]).status_code == 200
    used["password"] = PASSWORD

    # enrolment: a wrong code, then the key shown and a good code; recovery codes shown
    client.post("/connexion", data={"email": user.email, "password": PASSWORD,
                                    "csrf_token": csrf_token(client)})
    used["wrong enrolment code"] = f"{secrets.randbelow(10**6):06d}"
    _post(client, "/connexion/activation", code=used["wrong enrolment code"])
    logout(client)
    used["TOTP key"], codes = login_enrolling(client, user)
    used["session cookie"] = client.get_cookie("backoffice_session").value
    logout(client)

    # second factor: a wrong code, a recovery code, then a good code
    _post(client, "/connexion", email=user.email, password=PASSWORD)
    used["wrong code"] = f"{secrets.randbelow(10**6):06d}"
    while used["wrong code"] == current_code(used["TOTP key"]):
        used["wrong code"] = f"{secrets.randbelow(10**6):06d}"
    _post(client, "/connexion/code", code=used["wrong code"])
    used["recovery code"] = codes[0]
    assert _post(client, "/connexion/code", code=codes[0]).status_code == 302
    logout(client)
    _post(client, "/connexion", email=user.email, password=PASSWORD)
    used["TOTP code"] = totp_code(user)
    assert _post(client, "/connexion/code", code=used["TOTP code"]).status_code == 302
    logout(client)

    # the intake API: a valid token, a revoked one, a forged one, one in the query string
    organisation = OrganisationFactory()
    valid, used["API token"] = _token(organisation)
    revoked, used["revoked API token"] = _token(organisation, revoked=True)
    ctx.add_all([valid, revoked])
    ctx.commit()
    used["API token hash"] = valid.token_hash
    used["forged API token"] = "cvg_" + secrets.token_urlsafe(32)
    assert client.get("/api/v1/candidatures", headers={
        "Authorization": f"Bearer {used['API token']}"}).status_code == 200
    for key in ("revoked API token", "forged API token"):
        assert client.get("/api/v1/candidatures", headers={
            "Authorization": f"Bearer {used[key]}"}).status_code == 401
    assert client.get(f"/api/v1/candidatures?access_token={used['API token']}"
                      ).status_code == 401
    client.post("/api/v1/products", headers={"Authorization": f"Bearer {used['API token']}"},
                data=b'{"name": "' + used["API token"].encode() + b'",',
                content_type="application/json")

    logs = captured.getvalue()
    leaked = [name for name, secret in used.items() if secret and secret in logs]
    assert leaked == [], leaked
    # the capture saw the traffic: statements and request fields, parameters hidden
    assert "FROM user_account" in logs and "FROM api_token" in logs
    assert "SQL parameters hidden" in logs
    assert '"route": "auth.second_factor"' in logs
