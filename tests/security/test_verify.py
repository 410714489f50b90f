"""Issue 15, finding 9: the public verification page confirms a number one holds; it
does not let anyone enumerate certificates. Before the fix numbers were sequential (6
genuine ones found in 80 anonymous guesses), nothing limited the guesses, and the JSON
carried the internal motive of a suspension or withdrawal."""

from __future__ import annotations

import secrets

import pytest
import redis
import requests
from sqlalchemy import create_engine, make_url, text

from backoffice import create_app
from backoffice.certificates import CHECK_ALPHABET, NUMBER, base_number, reserve
from backoffice.db import db, utcnow
from backoffice.migrate import alembic_config, upgrade
from tests.conftest import (
    BACKENDS,
    REQUIRE_TIERS,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    base_config,
    fresh_database_url,
    missing_tier,
    reset_postgres_database,
)
from tests.factories import CandidatureFactory, fichier_for
from tests.security.live import serving, together

JSON = {"Accept": "application/json"}
MOTIVE = "Non-conformité relevée lors du contrôle interne n° 42"


def _issue(n: int = 1, **status: object) -> list:
    certs = []
    for _ in range(n):
        candidature = CandidatureFactory()
        cert = reserve(candidature, "certificat")
        cert.fichier_id = fichier_for(candidature, f"{cert.number}.pdf").id
        for name, value in status.items():
            setattr(cert, name, value)
        certs.append(cert)
    db.commit()
    return certs


@pytest.fixture
def generous(app, monkeypatch):
    """Guessing freely, to show that guessing finds nothing."""
    monkeypatch.setitem(app.config, "VERIFY_MAX_FAILURES_ADDRESS", 10_000)


def test_numbers_carry_a_check_part(ctx) -> None:
    (cert,) = _issue()
    assert NUMBER.match(cert.number), cert.number
    assert len(cert.number.rsplit("-", 1)[1]) == 5


def test_walking_the_numbers_finds_no_certificate(client, ctx, generous) -> None:
    certs = _issue(6)
    year = utcnow().year
    found = 0
    for i in range(1, 81):
        base = f"ANS-DMN-{year}-{i:06d}"
        guess = f"{base}-{''.join(secrets.choice(CHECK_ALPHABET) for _ in range(5))}"
        for number in (base, guess):
            found += client.get(f"/verify/{number}", headers=JSON).status_code == 200
    assert found == 0
    for cert in certs:  # the holder of the whole number is answered, as typed
        assert client.get(f"/verify/{cert.number.lower()}", headers=JSON).json["genuine"]


def test_a_number_without_its_check_part_says_so_whether_genuine_or_not(client, ctx,
                                                                        generous) -> None:
    (cert,) = _issue()
    genuine = client.get(f"/verify/{base_number(cert.number)}", headers=JSON)
    made_up = client.get("/verify/ANS-DMN-2020-999999", headers=JSON)
    assert genuine.status_code == made_up.status_code == 404
    assert genuine.json["code"] == made_up.json["code"] == "incomplete_number"
    assert genuine.json["message"] == made_up.json["message"]
    page = client.get(f"/verify/{base_number(cert.number)}").get_data(as_text=True)
    assert "Numéro incomplet" in page and cert.product_label not in page


def test_unknown_lookups_are_limited_per_address(client, ctx, app, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "VERIFY_MAX_FAILURES_ADDRESS", 5)
    (cert,) = _issue()
    for _ in range(12):  # checking a genuine certificate again and again costs nothing
        assert client.get(f"/verify/{cert.number}").status_code == 200
    for i in range(5):
        assert client.get(f"/verify/ANS-DMN-2026-{i:06d}-AAAAA").status_code == 404
    page = client.get("/verify/ANS-DMN-2026-000009-AAAAA")
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
    assert "Trop de vérifications" in page.get_data(as_text=True)
    assert page.headers["Content-Type"].startswith("text/html")
    blocked = client.get(f"/verify/{cert.number}", headers=JSON)  # nothing is looked up
    assert blocked.status_code == 429
    assert blocked.json["code"] == "trop_de_requetes" and "réessayez" in blocked.json["message"]
    other = client.get(f"/verify/{cert.number}", environ_base={"REMOTE_ADDR": "192.0.2.50"})
    assert other.status_code == 200  # another address is not affected


def test_public_answers_carry_no_internal_motive(client, ctx, generous) -> None:
    (cert,) = _issue(status="suspendu", status_motive=MOTIVE, status_changed_at=utcnow())
    data = client.get(f"/verify/{cert.number}", headers=JSON).json
    assert data["status"] == "suspendu" and data["valid"] is False
    assert data["status_changed_at"] and MOTIVE not in str(data)
    page = client.get(f"/verify/{cert.number}").get_data(as_text=True)
    assert "suspendu le" in page and "Non-conformité" not in page
    listing = client.get("/certificats", headers=JSON).json["items"]
    assert MOTIVE not in str(listing)


def test_the_public_list_names_certificates_without_their_check_part(client, ctx) -> None:
    certs = _issue(3)
    page = client.get("/certificats").get_data(as_text=True)
    items = client.get("/certificats", headers=JSON).json["items"]
    for cert in certs:
        assert base_number(cert.number) in page and cert.number not in page
        assert cert.number not in str(items)
    assert {i["number"] for i in items} >= {base_number(c.number) for c in certs}


# --- parallel guesses (real server; counters in memory, and in Redis) -----------------

TIERS = [pytest.param((backend, "memory"), id=f"{backend}-memory") for backend in BACKENDS]
if "postgresql" in BACKENDS and (TEST_REDIS_URL or REQUIRE_TIERS):
    TIERS.append(pytest.param(("postgresql", "redis"), id="postgresql-redis",
                              marks=pytest.mark.redis))


@pytest.fixture(params=TIERS)
def live(request, tmp_path):
    backend, counters = request.param
    url = fresh_database_url(backend, tmp_path, "verify_race")
    config = {**base_config(tmp_path, url), "VERIFY_MAX_FAILURES_ADDRESS": 8}
    if counters == "redis":
        if not TEST_REDIS_URL:
            missing_tier("TEST_REDIS_URL is not set")
        redis.Redis.from_url(TEST_REDIS_URL).flushdb()
        config["LOGIN_THROTTLE_REDIS_URL"] = TEST_REDIS_URL
    app = create_app(config)
    with serving(app) as base:
        yield base
    app.extensions["db_engine"].dispose()


def test_parallel_guesses_are_looked_up_at_most_the_limit(live) -> None:
    base = live

    def guess(i: int):
        return lambda: requests.get(f"{base}/verify/ANS-DMN-2026-{i:06d}-AAAAA",
                                    headers=JSON, timeout=60)

    responses = together([guess(i) for i in range(24)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [404] * 8 + [429] * 16
    assert all(r.json()["code"] == "trop_de_requetes" for r in responses if r.status_code == 429)


# --- the migration gives existing certificates a check part ---------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_existing_certificates_get_a_check_part_by_migration(backend, tmp_path) -> None:
    from alembic.script import ScriptDirectory

    before = ScriptDirectory.from_config(alembic_config()).get_revision("0016").down_revision
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'migration.sqlite3'}"
    else:
        if not TEST_DATABASE_URL:
            missing_tier("TEST_DATABASE_URL is not set")
        url = reset_postgres_database(TEST_DATABASE_URL, "backoffice_test_verify_migration")
        url = make_url(url).set(drivername="postgresql+psycopg").render_as_string(
            hide_password=False)
    engine = create_engine(url)
    with engine.begin() as conn:
        upgrade(conn, before)
    with engine.begin() as conn:  # rows as an older version left them (no foreign rows)
        if backend == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        else:
            conn.exec_driver_sql("SET session_replication_role = replica")
        for i, number in enumerate(["ANS-DMN-2026-000001", "ANS-SAS-2026-000002"], start=1):
            conn.execute(text(
                "INSERT INTO certificat (id, candidature_id, kind, number, product_label, "
                "organisation_name, referentiel_label, issued_at, status) VALUES "
                "(:i, :i, 'certificat', :n, 'P', 'O', 'R', CURRENT_TIMESTAMP, 'valide')"),
                {"i": i, "n": number})
    with engine.begin() as conn:
        upgrade(conn, "0016")
        numbers = conn.execute(text("SELECT number FROM certificat ORDER BY id")).scalars().all()
    engine.dispose()
    assert [n.rsplit("-", 1)[0] for n in numbers] == ["ANS-DMN-2026-000001",
                                                      "ANS-SAS-2026-000002"]
    assert all(NUMBER.match(n) for n in numbers), numbers
