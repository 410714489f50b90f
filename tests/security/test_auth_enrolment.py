"""Issue 15, finding 9 (last part): after an administrator resets someone's second
factor, the password alone no longer enrols a new authenticator. The reset shows the
administrator a one-time enrolment code (stored hashed, expiring) that the user enters
with the password before any new key is shown; it works once, even for two logins at the
same instant."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from backoffice import create_app
from backoffice.auth import enrolment, totp
from backoffice.db import db, utcnow
from backoffice.models import AuditEvent, User
from tests.conftest import BACKENDS, base_config, fresh_database_url
from tests.factories import UserFactory
from tests.helpers import csrf_token, login, logout
from tests.security.live import csrf, password_step, serving, together

CODE = re.compile(r'class="enrolment-code">([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})<')
BAD = "Code d&#39;activation incorrect ou déjà utilisé."
EXPIRED = "Ce code d&#39;activation a expiré."
ACTIVATION = "/connexion/activation"


def _reset(client, admin, user) -> str:
    """The admin's reset through Flask-Admin; returns the code the page shows once."""
    login(client, admin)
    response = client.post("/admin/user/action/", data={
        "action": "reinitialiser_2fa", "rowid": [str(user.id)],
        "csrf_token": csrf_token(client, "/admin/user/")})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    codes = CODE.findall(response.get_data(as_text=True))
    assert len(codes) == 1
    logout(client)
    return codes[0]


def _password(client, user) -> None:
    from tests.factories import PASSWORD

    response = client.post("/connexion", data={"email": user.email, "password": PASSWORD,
                                               "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == ACTIVATION


def _enter(client, code: str):
    return client.post(ACTIVATION, data={"code_activation": code,
                                         "csrf_token": csrf_token(client, ACTIVATION)})


def _actions(ctx, user) -> list[str]:
    return ctx.scalars(select(AuditEvent.action).where(
        AuditEvent.target_type == "user", AuditEvent.target_id == str(user.id))).all()


@pytest.fixture
def reset_user(client, ctx):
    admin, user = UserFactory(roles=["admin"]), UserFactory(roles=["support"])
    return user, _reset(client, admin, user), admin


def test_the_password_alone_no_longer_enrols(client, ctx, reset_user) -> None:
    user, code, _admin = reset_user
    ctx.refresh(user)
    assert user.enrolment_code_hash and code.replace("-", "") not in user.enrolment_code_hash
    _password(client, user)
    page = client.get(ACTIVATION).get_data(as_text=True)
    assert "Code d&#39;activation" in page
    assert "totp-secret" not in page and "<svg" not in page  # no key before the code
    # a thief with the password tries a TOTP code of their own, then guesses
    assert BAD in _enter(client, "123456").get_data(as_text=True)
    assert BAD in _enter(client, "AAAA-BBBB-CCCC").get_data(as_text=True)
    assert client.get("/").status_code == 302 and client.get("/support/").status_code == 302
    ctx.refresh(user)
    assert user.totp_secret is None and user.totp_enabled_at is None
    assert _actions(ctx, user).count("auth.echec_code_activation") == 2


def test_the_code_then_the_authenticator_enrols_once(client, ctx, reset_user) -> None:
    user, code, _admin = reset_user
    _password(client, user)
    response = _enter(client, code.lower())  # as typed, case and dashes do not matter
    assert response.status_code == 302 and response.headers["Location"] == ACTIVATION
    page = client.get(ACTIVATION).get_data(as_text=True)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    response = client.post(ACTIVATION, data={"code": totp.current_code(secret),
                                             "csrf_token": csrf_token(client, ACTIVATION)})
    assert response.status_code == 200 and "codes de secours" in response.get_data(
        as_text=True).lower()
    ctx.refresh(user)
    assert user.totp_enabled_at is not None and user.enrolment_code_hash is None
    assert {"auth.code_activation_utilise", "auth.double_authentification_activee"} <= set(
        _actions(ctx, user))
    logout(client)
    # the code is spent: a second reset is needed for another enrolment
    ctx.refresh(user)
    assert not enrolment.required(user)


def test_a_code_redeemed_by_one_login_is_useless_to_another(app, ctx, reset_user) -> None:
    user, code, _admin = reset_user
    first, second = app.test_client(), app.test_client()
    _password(first, user)
    _password(second, user)
    assert _enter(first, code).headers["Location"] == ACTIVATION
    refused = _enter(second, code)
    assert BAD in refused.get_data(as_text=True) or EXPIRED in refused.get_data(as_text=True)
    assert "totp-secret" not in second.get(ACTIVATION).get_data(as_text=True)
    assert "totp-secret" in first.get(ACTIVATION).get_data(as_text=True)


def test_an_expired_code_is_refused(client, ctx, reset_user) -> None:
    user, code, _admin = reset_user
    ctx.refresh(user)
    user.enrolment_code_expires_at = utcnow() - timedelta(minutes=1)
    ctx.commit()
    _password(client, user)
    page = _enter(client, code).get_data(as_text=True)
    assert EXPIRED in page and "totp-secret" not in page


def test_a_new_reset_replaces_the_code(client, ctx, reset_user) -> None:
    user, old, admin = reset_user
    new = _reset(client, admin, user)
    assert new != old
    _password(client, user)
    assert BAD in _enter(client, old).get_data(as_text=True)
    assert _enter(client, new).headers["Location"] == ACTIVATION


def test_wrong_codes_are_throttled(client, ctx, app, reset_user) -> None:
    user, code, _admin = reset_user
    _password(client, user)
    for _ in range(app.config["LOGIN_MAX_FAILURES_ACCOUNT"]):
        _enter(client, "AAAA-BBBB-CCCC")
    blocked = _enter(client, code)
    assert blocked.status_code == 429
    assert "Trop de tentatives" in blocked.get_data(as_text=True)


# --- two logins with the same code at the same instant (real server) ------------------

@pytest.fixture(params=BACKENDS)
def live(request, tmp_path):
    url = fresh_database_url(request.param, tmp_path, "enrolment_race")
    app = create_app(base_config(tmp_path, url))
    with app.app_context():
        user = UserFactory(totp=False)
        code = totp.reset(user)
        db.commit()
        user_id, email = user.id, user.email
    with serving(app) as base:
        yield app, base, user_id, email, code
    app.extensions["db_engine"].dispose()


def test_parallel_logins_redeem_one_code_once(live) -> None:
    app, base, user_id, email, code = live
    browsers = []
    for _ in range(app.config["LOGIN_MAX_FAILURES_ACCOUNT"]):  # all within the throttle
        browser = requests.Session()
        assert password_step(browser, base, email).headers["Location"] == ACTIVATION
        browsers.append((browser, csrf(browser, base + ACTIVATION)))

    def redeem(browser: requests.Session, token: str):
        return lambda: browser.post(base + ACTIVATION, data={
            "code_activation": code, "csrf_token": token}, allow_redirects=False, timeout=60)

    responses = together([redeem(b, t) for b, t in browsers])
    granted = [r for r in responses if r.status_code == 302]
    assert len(granted) == 1, [r.status_code for r in responses]
    assert all(r.status_code == 200 and BAD in r.text for r in responses if r not in granted)
    keys = {re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', b.get(base + ACTIVATION).text)
            for b, _ in browsers}
    assert len([k for k in keys if k]) == 1  # only the winner sees a key
    with app.app_context():
        assert db.scalar(select(User.totp_secret).where(User.id == user_id)) is not None
