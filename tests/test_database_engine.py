"""The PostgreSQL engine's session settings: what every connection of the application
runs with (backoffice/db.py, make_engine)."""

from __future__ import annotations

from sqlalchemy import text

from backoffice.db import make_engine
from config import normalise_database_url
from tests.conftest import TEST_DATABASE_URL, missing_tier


def test_a_statement_run_many_times_keeps_a_plan_made_for_its_values() -> None:
    """psycopg prepares a statement run five times; PostgreSQL then plans it once for any
    value (a generic plan). The application's connections keep planning for the values:
    a prepared statement explained after many runs shows the value, not `$1`."""
    if not TEST_DATABASE_URL:
        missing_tier("TEST_DATABASE_URL is not set (PostgreSQL tier)")
    engine = make_engine(normalise_database_url(TEST_DATABASE_URL))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
            assert conn.execute(text("SHOW jit")).scalar() == "off"
            conn.execute(text("CREATE TEMPORARY TABLE essai (n integer PRIMARY KEY)"))
            conn.execute(text("INSERT INTO essai SELECT generate_series(1, 1000)"))
            conn.execute(text("ANALYZE essai"))
            conn.execute(text("PREPARE essai_n (integer) AS SELECT n FROM essai WHERE n = $1"))
            for value in range(12):
                conn.execute(text(f"EXECUTE essai_n ({value})"))
            plan = "\n".join(conn.execute(text("EXPLAIN EXECUTE essai_n (7)")).scalars())
            assert "= 7" in plan and "$1" not in plan, plan
    finally:
        engine.dispose()
