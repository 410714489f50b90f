"""Second factor (TOTP + recovery codes), its enrolment and reset, and login throttling."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from backoffice import create_app
from backoffice.auth import throttle as throttle_module
from backoffice.auth import totp
from backoffice.models import AuditEvent, RecoveryCode, User
from tests.conftest import TEST_REDIS_URL, base_config, missing_tier
from tests.factories import PASSWORD, UserFactory
from tests.helpers import csrf_token, login, login_enrolling, logout, totp_code

BAD_CODE = "Code incorrect ou déjà utilisé."
TOO_MANY = "Trop de tentatives de connexion infructueuses."


def _password(client, email, password=PASSWORD):
    return client.post("/connexion", data={"email": email, "password": password,
                                           "csrf_token": csrf_token(client)})


def _code(client, code):
    return client.post("/connexion/code", data={
        "code": code, "csrf_token": csrf_token(client, "/connexion/code")})


def _actions(ctx, user) -> list[str]:
    return ctx.scalars(select(AuditEvent.action)
                       .where(AuditEvent.target_type == "user",
                              AuditEvent.target_id == str(user.id))
                       .order_by(AuditEvent.id)).all()


def test_first_login_enrols_an_authenticator_and_shows_recovery_codes_once(client, ctx) -> None:
    user = UserFactory(roles=["verificateur"], totp=False)
    _password(client, user.email)
    assert client.get("/instruction/").status_code == 302  # not signed in yet
    wrong = client.post("/connexion/activation", data={
        "code": "000000", "csrf_token": csrf_token(client, "/connexion/activation")})
    assert "Code incorrect : saisissez le code à 6 chiffres" in wrong.get_data(as_text=True)
    logout(client)

    secret, codes = login_enrolling(client, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/instruction/").status_code == 200  # signed in
    ctx.refresh(user)
    assert user.totp_enabled_at is not None
    assert secret not in user.totp_secret  # encrypted at rest
    hashes = ctx.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id))
    assert not {c.replace("-", "") for c in codes} & set(hashes)  # stored hashed only
    assert "auth.double_authentification_activee" in _actions(ctx, user)
    # the enrolment page is gone: next login asks for the code
    logout(client)
    assert _password(client, user.email).headers["Location"] == "/connexion/code"
    assert client.get("/connexion/activation").headers["Location"] == "/connexion/code"


def test_a_code_cannot_be_used_twice(client, ctx) -> None:
    user = UserFactory()
    _password(client, user.email)
    code = totp_code(user)
    assert _code(client, code).status_code == 302
    logout(client)
    _password(client, user.email)
    replay = _code(client, code)
    assert replay.status_code == 200
    assert BAD_CODE in replay.get_data(as_text=True)
    assert client.get("/instruction/").status_code == 302
    assert "auth.echec_second_facteur" in _actions(ctx, user)


def test_codes_of_other_steps_and_garbage_are_refused(client, ctx) -> None:
    user = UserFactory()
    _password(client, user.email)
    old = totp.current_code(user.totp_plain_secret, at=time.time() - 120)
    for code in (old, "", "12345", "abcdef", "1" * 40):
        response = _code(client, code)
        assert response.status_code == 200, code
    assert client.get("/instruction/").status_code == 302


def test_the_code_page_needs_the_password_step_and_expires(client, ctx, monkeypatch) -> None:
    user = UserFactory()
    response = client.get("/connexion/code")
    assert response.headers["Location"] == "/connexion"
    _password(client, user.email)
    later = time.time() + 6 * 60
    monkeypatch.setattr("backoffice.auth.views.time.time", lambda: later)
    response = client.get("/connexion/code", follow_redirects=True)
    assert "Votre connexion a expiré" in response.get_data(as_text=True)


def test_a_recovery_code_works_once(client, ctx) -> None:
    user = UserFactory(totp=False)
    _secret, codes = login_enrolling(client, user)
    logout(client)
    _password(client, user.email)
    response = _code(client, codes[3].upper())  # as typed, case does not matter
    assert response.status_code == 302
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "il vous en reste 9" in home
    assert "auth.code_secours_utilise" in _actions(ctx, user)
    logout(client)
    _password(client, user.email)
    assert BAD_CODE in _code(client, codes[3]).get_data(as_text=True)


def test_account_page_regenerates_recovery_codes(client, ctx) -> None:
    user = UserFactory(totp=False)
    _secret, old_codes = login_enrolling(client, user)
    page = client.get("/compte").get_data(as_text=True)
    assert 'id="codes-left">10<' in page
    refused = client.post("/compte", data={"code": "000000",
                                           "csrf_token": csrf_token(client, "/compte")})
    assert BAD_CODE in refused.get_data(as_text=True)
    response = client.post("/compte", data={"code": totp_code(user),
                                            "csrf_token": csrf_token(client, "/compte")})
    new_codes = re.findall(r"<code class=\"fr-text--lg\">([a-z0-9]{5}-[a-z0-9]{5})</code>",
                           response.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    logout(client)
    _password(client, user.email)
    assert _code(client, old_codes[0]).status_code == 200  # old codes no longer work
    assert _code(client, new_codes[0]).status_code == 302


def test_admin_resets_the_second_factor(client, ctx) -> None:
    admin = UserFactory(roles=["admin"])
    user = UserFactory(roles=["support"], totp=False)
    login_enrolling(client, user)
    logout(client)
    login(client, admin)
    page = client.get("/admin/user/").get_data(as_text=True)
    assert "Réinitialiser la double authentification" in page
    response = client.post("/admin/user/action/", data={
        "action": "reinitialiser_2fa", "rowid": [str(user.id)],
        "csrf_token": csrf_token(client, "/admin/user/")})
    assert response.status_code == 200  # the one-time enrolment code, shown once
    assert re.search(r'class="enrolment-code">[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}<',
                     response.get_data(as_text=True))
    ctx.refresh(user)
    assert user.totp_secret is None and user.totp_enabled_at is None
    assert ctx.scalar(select(RecoveryCode).where(RecoveryCode.user_id == user.id)) is None
    assert "admin.double_authentification_reinitialisee" in _actions(ctx, user)
    logout(client)
    assert _password(client, user.email).headers["Location"] == "/connexion/activation"


def test_admin_reset_is_refused_to_other_roles(client, ctx) -> None:
    user = UserFactory(roles=["support"])
    for role in ("verificateur", "college", "support"):
        login(client, UserFactory(roles=[role]))
        response = client.post("/admin/user/action/", data={
            "action": "reinitialiser_2fa", "rowid": [str(user.id)],
            "csrf_token": csrf_token(client, "/")})
        assert response.status_code == 403, role
        logout(client)
    ctx.refresh(user)
    assert user.totp_enabled_at is not None


# --- throttling -----------------------------------------------------------------------

def test_an_account_is_throttled_after_five_failures(client, ctx, app, monkeypatch) -> None:
    user = UserFactory()
    for _ in range(app.config["LOGIN_MAX_FAILURES_ACCOUNT"]):
        assert _password(client, user.email, "wrong").status_code == 200
    blocked = _password(client, user.email)  # even the right password is not checked
    assert blocked.status_code == 429
    assert TOO_MANY in blocked.get_data(as_text=True)
    assert "réessayez dans 15 minutes" in blocked.get_data(as_text=True)
    # an unknown address is throttled the same way (nothing tells it apart)
    for _ in range(app.config["LOGIN_MAX_FAILURES_ACCOUNT"]):
        _password(client, "personne@ans.test.fr", "wrong")
    assert _password(client, "personne@ans.test.fr", "x").status_code == 429
    # the window passes: the account may try again
    later = time.monotonic() + app.config["LOGIN_THROTTLE_SECONDS"] + 1
    monkeypatch.setattr(throttle_module.time, "monotonic", lambda: later)
    assert _password(client, user.email).headers["Location"] == "/connexion/code"


def test_wrong_codes_count_as_failures(client, ctx, app) -> None:
    user = UserFactory()
    _password(client, user.email)
    for _ in range(app.config["LOGIN_MAX_FAILURES_ACCOUNT"]):
        _code(client, "000000")
    response = _code(client, totp_code(user))
    assert response.status_code == 429
    assert TOO_MANY in response.get_data(as_text=True)


def test_an_address_is_throttled_across_accounts(client, ctx, app) -> None:
    per_account = app.config["LOGIN_MAX_FAILURES_ACCOUNT"] - 1
    tried = 0
    n = 0
    while tried < app.config["LOGIN_MAX_FAILURES_ADDRESS"]:
        for _ in range(per_account):
            _password(client, f"essai{n}@ans.test.fr", "wrong")
            tried += 1
        n += 1
    user = UserFactory()  # never failed itself, but from the same address
    assert _password(client, user.email).status_code == 429


def test_a_success_clears_the_account_counter(client, ctx, app) -> None:
    user = UserFactory()
    for _ in range(app.config["LOGIN_MAX_FAILURES_ACCOUNT"] - 1):
        _password(client, user.email, "wrong")
    login(client, user)
    logout(client)
    for _ in range(app.config["LOGIN_MAX_FAILURES_ACCOUNT"] - 1):
        _password(client, user.email, "wrong")
    assert _password(client, user.email).status_code == 302


def _redis_throttle(url: str) -> throttle_module.Throttle:
    return throttle_module.Throttle(throttle_module.Limits(3, 100, 60), url)


@pytest.mark.redis
def test_counters_are_shared_through_redis() -> None:
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set")
    worker_a, worker_b = _redis_throttle(TEST_REDIS_URL), _redis_throttle(TEST_REDIS_URL)
    email = f"partage-{time.time_ns()}@ans.test.fr"
    for worker in (worker_a, worker_b, worker_a):
        worker.failure(email, "192.0.2.7")
    # two gunicorn workers see the same count; the local memory was never used
    assert 55 <= worker_b.wait_seconds(email, "192.0.2.7") <= 60
    assert worker_a.memory.get(worker_a._keys(email, None)[0]) == (0, 0)
    worker_b.success(email)
    assert worker_a.wait_seconds(email, "192.0.2.7") == 0


def test_redis_down_falls_back_to_memory_and_logins_go_on(tmp_path) -> None:
    down = _redis_throttle("redis://127.0.0.1:1/0")  # nothing listens there
    for _ in range(3):
        down.failure("x@ans.test.fr", "192.0.2.8")
    assert down.wait_seconds("x@ans.test.fr", "192.0.2.8") > 0  # still enforced
    app = create_app({**base_config(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}"),
                      "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert app.extensions["login_throttle"].redis is not None


def test_enrolment_page_needs_the_password_step(client, ctx) -> None:
    assert client.get("/connexion/activation").headers["Location"] == "/connexion"
    user = UserFactory(totp=False)
    _password(client, user.email, "wrong")
    assert client.get("/connexion/activation").headers["Location"] == "/connexion"
    assert ctx.scalar(select(User.totp_secret).where(User.id == user.id)) is None
