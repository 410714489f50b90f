"""How a request's transaction ends (backoffice/db.py): a request that wrote nothing ends
with COMMIT on PostgreSQL, so that the statements psycopg prepared (and the plans
PostgreSQL keeps for them) survive to the next page; anything written and not committed
by the view is still rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from backoffice import create_app
from backoffice.db import db
from backoffice.models import Team
from tests.conftest import TEST_DATABASE_URL, base_config, fresh_database_url, missing_tier


@pytest.fixture
def pg_app(tmp_path):
    if not TEST_DATABASE_URL:
        missing_tier("TEST_DATABASE_URL is not set")
    app = create_app(base_config(tmp_path, fresh_database_url("postgresql", tmp_path, "txend")))

    @app.route("/_t/lire")
    def read():
        db.scalar(select(func.count(Team.id)).where(Team.parcours == "dmn"))
        return {"prepared": db.scalar(text(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :s"),
            {"s": "SELECT count(team.id)%"})}

    @app.route("/_t/ecrire-sans-valider")
    def write_without_commit():
        db.add(Team(name="Équipe fantôme", parcours="dmn"))
        db.flush()  # written in the transaction, never committed by the view
        return {"ok": True}

    @app.route("/_t/en-attente")
    def pending():
        db.add(Team(name="Équipe en attente", parcours="dmn"))  # not even flushed
        return {"ok": True}

    @app.route("/_t/echec-rattrape")
    def failed_flush_caught():
        from sqlalchemy.exc import IntegrityError

        db.add(Team(name="Équipe hors parcours", parcours="inconnu"))  # CHECK refuses it
        try:
            db.flush()
        except IntegrityError:
            return {"ok": False}  # caught, and the session left as the failure left it
        return {"ok": True}

    app.config["LOGIN_DISABLED"] = True
    yield app
    app.extensions["db_engine"].dispose()


def test_a_page_that_wrote_nothing_keeps_its_prepared_statements(pg_app) -> None:
    client = pg_app.test_client()
    answers = [client.get("/_t/lire").get_json()["prepared"] for _ in range(8)]
    # psycopg prepares a statement at its 5th run on a connection; a ROLLBACK at the end
    # of each request would drop it every time (the count would stay 0)
    assert answers[-1] == 1, answers


def test_what_a_view_wrote_without_committing_is_rolled_back(pg_app) -> None:
    client = pg_app.test_client()
    assert client.get("/_t/ecrire-sans-valider").status_code == 200
    assert client.get("/_t/en-attente").status_code == 200
    with pg_app.app_context():
        names = db.scalars(select(Team.name)).all()
    assert "Équipe fantôme" not in names and "Équipe en attente" not in names


def test_a_failed_transaction_left_by_the_view_is_rolled_back(pg_app) -> None:
    client = pg_app.test_client()
    assert client.get("/_t/echec-rattrape").get_json() == {"ok": False}
    assert client.get("/_t/lire").status_code == 200  # the connection is usable again
