"""EXPLAIN (ANALYZE, BUFFERS) of the queries behind the slow pages, on a bench database:

    python -m bench.explain --database-url URL [queue|queue_deep|search|ans_turn|csv_page]
    python -m bench.explain --database-url URL --page /instruction/

The first form prints the SQL of the queue (the application's own query builder,
parameters inlined) and its plan; the second requests a page as the measuring
vérificateur and explains the slowest statement it ran. docs/benchmarks.md quotes them."""

from __future__ import annotations

import argparse

from sqlalchemy import select, text

from backoffice import create_app
from backoffice.db import db, utcnow
from backoffice.models import Candidature, User
from backoffice.queues import candidatures as queue
from bench.generate import SECRET_KEY
from bench.reference import LEAD_EMAIL
from config import normalise_database_url


def queue_sql(user: User, filters: queue.Filters, after: str | None = None,
              limit: int = queue.PAGE_SIZE) -> str:
    """The SQL of queue.page(), as PostgreSQL receives it."""
    from sqlalchemy import and_, literal, or_

    from backoffice.db import UTCDateTime

    stmt, sort_expr, descending = queue.base_query(user, filters, utcnow())
    if after:
        value, row_id = queue.decode_cursor(after)
        param = literal(value, UTCDateTime())
        stmt = stmt.where(or_(sort_expr > param,
                              and_(sort_expr == param, Candidature.id > row_id)))
    stmt = stmt.order_by(sort_expr.asc(), Candidature.id.asc()).limit(limit + 1)
    return str(stmt.compile(db.get_bind(), compile_kwargs={"literal_binds": True}))


def explain(sql: str) -> str:
    rows = db.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")).scalars()
    return "\n".join(rows)


def explain_page(database_url: str, path: str) -> str:
    """Request `path`, then EXPLAIN ANALYZE the slowest statement the request ran."""
    import tempfile
    from pathlib import Path

    from bench.run import make_app

    with tempfile.TemporaryDirectory(prefix="bench-explain-") as tmp:
        return _explain_slowest(make_app(database_url, Path(tmp)), path)


def _explain_slowest(app, path: str) -> str:  # noqa: ANN001
    import time

    from sqlalchemy import event

    from bench.run import signed_in_client

    client, _ = signed_in_client(app)
    client.get(path)  # warm
    engine = app.extensions["db_engine"]
    seen: list[tuple[float, str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        conn.info["explain_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        seen.append((time.perf_counter() - conn.info["explain_started"], statement,
                     parameters))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    seconds, statement, parameters = max(seen, key=lambda s: s[0])
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement,
                                    parameters).scalars().all()
    engine.dispose()
    return (f"-- {path}: {len(seen)} statements, slowest {seconds * 1000:.1f} ms\n"
            f"{statement}\n-- {parameters}\n\n" + "\n".join(plan))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("what", nargs="*", default=["queue"])
    parser.add_argument("--cursor", help="apres= cursor for queue_deep")
    parser.add_argument("--sql-only", action="store_true")
    parser.add_argument("--page", help="a page path: explain its slowest statement")
    args = parser.parse_args(argv)
    if args.page:
        print(explain_page(args.database_url, args.page))
        return
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(args.database_url),
                      "SECRET_KEY": SECRET_KEY, "REDIS_URL": None})
    with app.app_context():
        user = db.scalar(select(User).where(User.email == LEAD_EMAIL))
        for what in args.what:
            if what == "queue":
                sql = queue_sql(user, queue.Filters())
            elif what == "queue_deep":
                sql = queue_sql(user, queue.Filters(), after=args.cursor)
            elif what == "search":
                sql = queue_sql(user, queue.Filters(q="cardiotrack"))
            elif what == "ans_turn":
                sql = queue_sql(user, queue.Filters(turn="ans"))
            elif what == "csv_page":
                sql = queue_sql(user, queue.Filters(), limit=500)
            else:
                raise SystemExit(f"unknown: {what}")
            print(f"-- {what}\n{sql};\n")
            if not args.sql_only:
                print(explain(sql) + "\n")


if __name__ == "__main__":
    main()
