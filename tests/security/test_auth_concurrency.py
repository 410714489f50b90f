"""Issue 15, finding 1: single-use codes and login throttling under parallel requests.

Real HTTP requests fired together (threads, released by a barrier) at a real threaded
server, on each database, with the throttle's counters in memory and — Redis tier — in
Redis. Before the fix a TOTP code posted by two logins at once signed both in (the user
was read before the FOR UPDATE, so the second saw the old last-used step), and 16
parallel wrong passwords for one account were all checked against a limit of 5."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import requests
from sqlalchemy import create_engine, func, select, text

from backoffice import create_app
from backoffice.auth import totp
from backoffice.db import db
from backoffice.models import AuditEvent, RecoveryCode, User
from tests.conftest import (
    BACKENDS,
    REQUIRE_TIERS,
    TEST_REDIS_URL,
    base_config,
    fresh_database_url,
    missing_tier,
)
from tests.factories import UserFactory
from tests.security.live import csrf, password_step, serving, together

BAD_CODE = "Code incorrect ou déjà utilisé."
BAD_PASSWORD = "Adresse électronique ou mot de passe incorrect."
TOO_MANY = "Trop de tentatives de connexion infructueuses."
LIMIT = 5
PARALLEL = 16

COUNTERS = [pytest.param((backend, "memory"), id=f"{backend}-memory") for backend in BACKENDS]
if "postgresql" in BACKENDS and (TEST_REDIS_URL or REQUIRE_TIERS):
    COUNTERS.append(pytest.param(("postgresql", "redis"), id="postgresql-redis",
                                 marks=pytest.mark.redis))


@pytest.fixture(scope="module", params=COUNTERS)
def live(request, tmp_path_factory):
    backend, counters = request.param
    tmp = tmp_path_factory.mktemp(f"auth-race-{backend}-{counters}")
    url = fresh_database_url(backend, tmp, "auth_race")
    config = {**base_config(tmp, url), "LOGIN_MAX_FAILURES_ACCOUNT": LIMIT,
              "LOGIN_MAX_FAILURES_ADDRESS": 1000, "LOGIN_THROTTLE_SECONDS": 900}
    if counters == "redis":
        if not TEST_REDIS_URL:
            missing_tier("TEST_REDIS_URL is not set")
        config["LOGIN_THROTTLE_REDIS_URL"] = TEST_REDIS_URL
    app = create_app(config)
    with serving(app) as base:
        yield app, base, backend, url, counters
    app.extensions["db_engine"].dispose()


@pytest.fixture
def server(live):
    """Each test starts with empty counters (the module's server is shared)."""
    app, _base, _backend, _url, counters = live
    app.extensions["login_throttle"].forget_local_counts()
    if counters == "redis":
        redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    return live


def _user(app, **kwargs) -> tuple[int, str, str]:
    """A committed, enrolled account: (id, e-mail, clear TOTP key)."""
    with app.app_context():
        user = UserFactory(**kwargs)
        db.commit()
        return user.id, user.email, user.totp_plain_secret


def _count(app, action: str, user_id: int | None = None) -> int:
    with app.app_context():
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        if user_id is not None:
            query = query.where(AuditEvent.target_id == str(user_id))
        return db.scalar(query)


def _at_code_step(base: str, email: str, n: int) -> list[tuple[requests.Session, str]]:
    """n browsers past the password step, each with its code page's CSRF token."""
    browsers = []
    for _ in range(n):
        browser = requests.Session()
        assert password_step(browser, base, email).headers["Location"] == "/connexion/code"
        browsers.append((browser, csrf(browser, f"{base}/connexion/code")))
    return browsers


@contextmanager
def _holding_account(backend: str, url: str, user_id: int) -> Iterator[None]:
    """Hold the account's row (PostgreSQL) or the database's write lock (SQLite) while
    the parallel requests start, so that they all read the account before any of them
    may use the code: the race the finding describes, every time."""
    if backend == "postgresql":
        engine = create_engine(url)
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT id FROM user_account WHERE id = :i FOR UPDATE"),
                         {"i": user_id})
            yield
        engine.dispose()
    else:
        raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            raw.execute("ROLLBACK")
            raw.close()


def _post_codes(base: str, browsers, code: str, hold) -> list[requests.Response]:
    def post(browser: requests.Session, token: str):
        return lambda: browser.post(f"{base}/connexion/code", data={
            "code": code, "csrf_token": token}, allow_redirects=False, timeout=60)

    calls = [post(b, t) for b, t in browsers]
    with hold:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1)
        pending = pool.submit(together, calls)
        time.sleep(0.7)  # every request is now inside the server, waiting on the lock
    responses = pending.result()
    pool.shutdown()
    return responses


def _signed_in(responses: list[requests.Response]) -> list[requests.Response]:
    return [r for r in responses if r.status_code == 302 and r.headers["Location"] == "/"]


def test_one_totp_code_posted_by_parallel_logins_signs_in_once(server) -> None:
    app, base, backend, url, _counters = server
    user_id, email, secret = _user(app)
    browsers = _at_code_step(base, email, 4)
    code = totp.current_code(secret)
    responses = _post_codes(base, browsers, code, _holding_account(backend, url, user_id))
    winners = _signed_in(responses)
    assert len(winners) == 1, [(r.status_code, r.headers.get("Location")) for r in responses]
    losers = [r for r in responses if r not in winners]
    assert all(r.status_code == 200 and BAD_CODE in r.text for r in losers)
    assert _count(app, "auth.connexion", user_id) == 1
    with app.app_context():
        assert db.scalar(select(User.totp_last_counter).where(User.id == user_id)) is not None


def test_one_recovery_code_posted_by_parallel_logins_signs_in_once(server) -> None:
    app, base, backend, url, _counters = server
    user_id, email, _secret = _user(app)
    with app.app_context():
        codes = totp.new_recovery_codes(db.get(User, user_id))
        db.commit()
    browsers = _at_code_step(base, email, 4)
    responses = _post_codes(base, browsers, codes[0], _holding_account(backend, url, user_id))
    assert len(_signed_in(responses)) == 1, [r.status_code for r in responses]
    assert _count(app, "auth.code_secours_utilise", user_id) == 1
    with app.app_context():
        assert db.scalar(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_not(None))) == 1


def test_parallel_wrong_passwords_are_checked_at_most_the_limit(server) -> None:
    app, base, _backend, _url, _counters = server
    _user_id, email, _secret = _user(app)
    browsers = []
    for _ in range(PARALLEL):
        browser = requests.Session()
        browsers.append((browser, csrf(browser, f"{base}/connexion")))

    def attempt(browser: requests.Session, token: str):
        return lambda: browser.post(f"{base}/connexion", data={
            "email": email, "password": "mauvais-mot-de-passe", "csrf_token": token},
            allow_redirects=False, timeout=60)

    responses = together([attempt(b, t) for b, t in browsers])
    checked = [r for r in responses if r.status_code == 200 and BAD_PASSWORD in r.text]
    refused = [r for r in responses if r.status_code == 429 and TOO_MANY in r.text]
    assert (len(checked), len(refused)) == (LIMIT, PARALLEL - LIMIT), \
        [r.status_code for r in responses]
    assert _count(app, "auth.echec_connexion") == LIMIT
    # the limit holds afterwards too, even for the right password
    assert password_step(requests.Session(), base, email).status_code == 429


def test_parallel_wrong_codes_are_checked_at_most_the_limit(server) -> None:
    app, base, _backend, _url, _counters = server
    user_id, email, secret = _user(app)
    browsers = _at_code_step(base, email, PARALLEL)

    def attempt(browser: requests.Session, token: str):
        return lambda: browser.post(f"{base}/connexion/code", data={
            "code": "000000", "csrf_token": token}, allow_redirects=False, timeout=60)

    responses = together([attempt(b, t) for b, t in browsers])
    checked = [r for r in responses if r.status_code == 200 and BAD_CODE in r.text]
    refused = [r for r in responses if r.status_code == 429 and TOO_MANY in r.text]
    assert (len(checked), len(refused)) == (LIMIT, PARALLEL - LIMIT), \
        [r.status_code for r in responses]
    assert _count(app, "auth.echec_second_facteur", user_id) == LIMIT
    # the right code is not checked either until the window passes
    browser, token = browsers[0]
    right = browser.post(f"{base}/connexion/code", data={
        "code": totp.current_code(secret), "csrf_token": token}, allow_redirects=False,
        timeout=30)
    assert right.status_code == 429


def test_parallel_attempts_from_one_address_are_checked_at_most_its_limit(server) -> None:
    app, base, _backend, _url, _counters = server
    throttle = app.extensions["login_throttle"]
    saved = throttle.limits
    address_limit = 8
    throttle.limits = type(saved)(account=saved.account, address=address_limit,
                                  window=saved.window)
    try:
        browsers = []
        for _ in range(PARALLEL):
            browser = requests.Session()
            browsers.append((browser, csrf(browser, f"{base}/connexion")))

        def attempt(n: int, browser: requests.Session, token: str):
            return lambda: browser.post(f"{base}/connexion", data={
                "email": f"inconnu{n}-{time.time_ns()}@ans.test.fr", "password": "x",
                "csrf_token": token}, allow_redirects=False, timeout=60)

        responses = together([attempt(n, b, t) for n, (b, t) in enumerate(browsers)])
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * address_limit + [429] * (PARALLEL - address_limit)
    finally:
        throttle.limits = saved


@pytest.mark.parametrize("store", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_given_back_attempt_never_revives_an_expired_window(store) -> None:
    """Giving back an attempt whose window expired meanwhile must not leave a count of -1
    without expiry (one extra attempt forever)."""
    from backoffice.auth.throttle import MemoryCounters, RedisCounters

    if store == "redis":
        if not TEST_REDIS_URL:
            missing_tier("TEST_REDIS_URL is not set")
        counters = RedisCounters(TEST_REDIS_URL)
        key = f"backoffice:test:{time.time_ns()}"
        assert counters.hit(key, 60)[0] == 1
        counters.clear(key)  # as if the window had expired
        counters.give_back(key)
        assert counters.get(key) == (0, 0)
        assert redis.Redis.from_url(TEST_REDIS_URL).exists(key) == 0
    else:
        counters = MemoryCounters()
        key = "k"
        counters.hit(key, 60)
        counters.give_back(key)
        counters.give_back(key)
        assert counters.get(key)[0] == 0
    assert counters.hit(key, 60)[0] == 1
