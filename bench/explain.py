"""EXPLAIN (ANALYZE, BUFFERS) of the statements behind the pages, on a bench database:

    python -m bench.explain --database-url URL [--page /instruction/file?q=care ...]

Each page is requested as the measuring vérificateur (twice: the first warms the caches);
the slowest statement it ran is explained with its own parameters. Without --page: the
queue (first page, searched, filtered), the home page and the section queue.
docs/benchmarks.md quotes them."""

from __future__ import annotations

import argparse

PAGES = ("/instruction/file", "/instruction/file?q=cardiotrack", "/instruction/file?q=care",
         "/instruction/file?tour=ans", "/instruction/", "/instruction/sections")


def explain_page(database_url: str, path: str) -> str:
    """Request `path`, then EXPLAIN ANALYZE the slowest statement the request ran."""
    import tempfile
    from pathlib import Path

    from bench.run import make_app

    with tempfile.TemporaryDirectory(prefix="bench-explain-") as tmp:
        return _explain_slowest(make_app(database_url, Path(tmp)), path)


def _explain_slowest(app, path: str) -> str:
    import time

    from sqlalchemy import event

    from bench.run import signed_in_client

    client, _ = signed_in_client(app)
    client.get(path)  # warm
    engine = app.extensions["db_engine"]
    seen: list[tuple[float, str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["explain_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
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
    parser.add_argument("--page", action="append", help="a page path (repeatable)")
    args = parser.parse_args(argv)
    for path in args.page or PAGES:
        print(explain_page(args.database_url, path) + "\n")


if __name__ == "__main__":
    main()
