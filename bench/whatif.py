"""The proposed indexes and query changes, tried on a copy of a bench database (CREATE
DATABASE … TEMPLATE, dropped at the end): the bench database itself is not changed.

    python -m bench.whatif --database-url URL [--plans]

For each queue query: the plan and time today, then with the proposal (P4-P6 of
docs/benchmarks.md): a `waiting_since` column on candidature (the current step's
submitted_at / opened_at, kept by the transitions), partial indexes on the open
candidatures, keyset as a row comparison, pg_trgm indexes for the search."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from backoffice import create_app
from backoffice.db import db
from backoffice.models import User
from backoffice.queues import candidatures as queue
from bench.explain import queue_sql
from bench.generate import SECRET_KEY
from bench.reference import LEAD_EMAIL
from config import normalise_database_url

SORT = ("coalesce(candidature_step_1.submitted_at, candidature_step_1.opened_at, "
        "candidature.created_at)")

DDL = [
    "ALTER TABLE candidature ADD COLUMN waiting_since TIMESTAMPTZ",
    "UPDATE candidature c SET waiting_since = coalesce(s.submitted_at, s.opened_at, "
    "c.created_at) FROM candidature_step s WHERE s.candidature_id = c.id "
    "AND s.step = c.current_step",
    "CREATE INDEX ix_candidature_queue_waiting ON candidature (waiting_since, id) "
    "WHERE status = 'en_cours'",
    "CREATE INDEX ix_candidature_queue_activity ON candidature (last_activity_at DESC, id DESC) "
    "WHERE status = 'en_cours'",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_product_name_trgm ON product USING gin (name gin_trgm_ops)",
    "CREATE INDEX ix_organisation_name_trgm ON organisation USING gin (name gin_trgm_ops)",
    "CREATE INDEX ix_candidature_reference_trgm ON candidature USING gin "
    "(reference gin_trgm_ops)",
]


def timed_explain(sql: str) -> tuple[float, str]:
    rows = db.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")).scalars().all()
    total = next(float(re.findall(r"[\d.]+", r)[0]) for r in rows
                 if r.startswith("Execution Time"))
    return total, "\n".join(rows)


def proposed(sql: str, after: tuple[str, int] | None = None) -> str:
    """The same query, sorted (and paged) on the new column."""
    sql = sql.replace(SORT, "candidature.waiting_since")
    if after:
        value, row_id = after
        sql = sql.replace(" ORDER BY", f" AND (candidature.waiting_since, candidature.id) > "
                                       f"('{value}'::timestamptz, {row_id}) ORDER BY", 1)
    return sql


def search_proposed(sql: str, term: str) -> str:
    """The search with its product and organisation arms as semi-joins (each answered by
    its trigram index) instead of filters over the joined rows."""
    pattern = f"'%{term}%'"
    found = re.search(r"AND \(candidature\.reference ILIKE .*? ESCAPE '\\'\)", sql,
                      flags=re.S)
    if not found:
        return sql
    # a fixed benchmark term, not an input
    arms = (f"candidature.reference ILIKE {pattern}",
            "candidature.product_id IN (SELECT id FROM product WHERE name ILIKE "  # noqa: S608
            f"{pattern})",
            "candidature.organisation_id IN (SELECT id FROM organisation WHERE name "  # noqa: S608
            f"ILIKE {pattern})")
    return sql.replace(found.group(0), f"AND ({' OR '.join(arms)})")


def copy_database(url: str) -> str:
    """A copy of the database at `url` with the proposal applied and vacuumed."""
    from sqlalchemy import create_engine, make_url

    parsed = make_url(url)
    name = f"{parsed.database}_whatif"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"'))
    admin.dispose()
    copy = parsed.set(database=name)
    engine = create_engine(copy, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in DDL:
            conn.execute(text(statement))
        conn.execute(text("VACUUM (ANALYZE) candidature"))
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return copy.render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def best_of(sql: str, runs: int = 3) -> tuple[float, str]:
    """The fastest of a few runs (the first one warms the cache)."""
    results = [timed_explain(sql) for _ in range(runs)]
    return min(results, key=lambda r: r[0])


def measure_pages(url: str, repeat: int) -> dict[str, Any]:
    """The queue pages, the baseline and the CSV export, served by the application with
    proposal P4 (bench.proposal_queue) on the copy that has its column and indexes."""
    import tempfile

    from bench.proposal_queue import proposed_queue
    from bench.run import bench_csv, bench_queue, make_app, queue_facts, signed_in_client

    with tempfile.TemporaryDirectory(prefix="bench-whatif-") as tmp:
        app = make_app(url, Path(tmp))
        client, user_id = signed_in_client(app)
        facts = queue_facts(app, user_id)
        with proposed_queue():
            result = {"dataset": facts, "database": {"engine": "PostgreSQL + P4"},
                      "queue": bench_queue(app, client, user_id, facts, 1000, repeat),
                      "csv": bench_csv(app, client, 100_000)}
        app.extensions["db_engine"].dispose()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--plans", action="store_true", help="print the full plans")
    parser.add_argument("--pages", type=int, metavar="REPEAT",
                        help="also time the queue pages and the CSV export on the copy, "
                             "with bench.proposal_queue, REPEAT times each")
    parser.add_argument("--output", type=Path, help="JSON of the page timings (--pages)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the copy (<name>_whatif) for other measurements")
    args = parser.parse_args(argv)
    url = normalise_database_url(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY,
                      "REDIS_URL": None})
    with app.app_context():
        user = db.scalar(select(User).where(User.email == LEAD_EMAIL))
        first = queue_sql(user, queue.Filters())
        body = first.rsplit("LIMIT", 1)[0]  # the application's own compiled query
        visible = db.scalar(text(f"SELECT count(*) FROM ({body}) q"))  # noqa: S608
        depth = min(args.depth, (visible - 1) // queue.PAGE_SIZE)
        row = db.execute(text(first.rsplit("LIMIT", 1)[0] +
                              f" OFFSET {depth * queue.PAGE_SIZE - 1} LIMIT 1")).one()
        cursor = queue.encode_cursor(queue._as_utc(row.sort_value), row.id)
        after = (row.sort_value.isoformat(), row.id)
        cases = {
            "first page": (first, proposed(first)),
            f"page {depth + 1} (keyset)": (queue_sql(user, queue.Filters(), after=cursor),
                                          proposed(first, after)),
            "filtered démarche+étape": (
                queue_sql(user, queue.Filters(demarche="sons_sas", step="preuves")),
                proposed(queue_sql(user, queue.Filters(demarche="sons_sas", step="preuves")))),
            "tour ANS": (queue_sql(user, queue.Filters(turn="ans")),
                         proposed(queue_sql(user, queue.Filters(turn="ans")))),
            "search cardiotrack": (
                queue_sql(user, queue.Filters(q="cardiotrack")),
                search_proposed(proposed(queue_sql(user, queue.Filters(q="cardiotrack"))),
                                "cardiotrack")),
            "CSV page (500 rows)": (queue_sql(user, queue.Filters(), limit=500),
                                    proposed(queue_sql(user, queue.Filters(), limit=500))),
        }
        before = {name: best_of(sql) for name, (sql, _) in cases.items()}
        db.remove()
    app.extensions["db_engine"].dispose()
    start = time.perf_counter()
    copy = copy_database(url)
    ddl_seconds = time.perf_counter() - start
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": copy, "SECRET_KEY": SECRET_KEY,
                          "REDIS_URL": None})
        with app.app_context():
            after_plans = {name: best_of(sql) for name, (_, sql) in cases.items()}
            db.remove()
        app.extensions["db_engine"].dispose()
        if args.pages:
            pages = measure_pages(copy, args.pages)
            if args.output:
                args.output.write_text(json.dumps(pages, indent=2) + "\n")
    finally:
        if not args.keep:
            drop_database(copy)
    print(f"{visible:,} open candidatures visible; copy + DDL + backfill + vacuum took "
          f"{ddl_seconds:.1f} s (on a copy, dropped)")
    print(f"{'query':32} {'today (ms)':>12} {'proposed (ms)':>14}")
    for name in cases:
        print(f"{name:32} {before[name][0]:12.1f} {after_plans[name][0]:14.1f}")
    if args.plans:
        for name in cases:
            print(f"\n== {name}, today\n{before[name][1]}\n\n== {name}, proposed\n"
                  f"{after_plans[name][1]}")


if __name__ == "__main__":
    main()
