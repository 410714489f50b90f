"""Load a bench database: `python -m bench.generate --database-url URL --candidatures N`.

PostgreSQL: the database named in the URL is dropped and created again (its name must
start with "bench", so that `test` or a real database can never be the target), migrated
with the application's Alembic migrations, then loaded with COPY. SQLite: the file is
replaced, migrated, then loaded with executemany. Prints (and writes with --output) the
counts, the timings and the size on disk."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

from backoffice.db import make_engine
from backoffice.migrate import upgrade
from bench import measure, reference
from bench.dataset import COLUMNS, Generator
from bench.sinks import PostgresSink, SqliteSink
from config import normalise_database_url

SECRET_KEY = "bench-only-secret-key"  # noqa: S105 - signs bench sessions on bench data


def recreate_database(url: str) -> str:
    """An empty, migrated database at `url` (normalised URL returned)."""
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        name = parsed.database or ""
        if not name.startswith("bench"):
            raise SystemExit(f"refusing to drop database {name!r}: its name must start with "
                             "'bench'")
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    else:
        path = Path(parsed.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(url)
    with engine.begin() as connection:
        upgrade(connection)
    engine.dispose()
    return url


def bench_app(url: str):
    from backoffice import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                       "PASSWORD_HASH_FAST": True, "SECRET_KEY": SECRET_KEY})


def database_size(url: str) -> int:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url)
        with engine.connect() as conn:
            size = conn.scalar(text("SELECT pg_database_size(current_database())"))
        engine.dispose()
        return int(size)
    return Path(parsed.database or "").stat().st_size


def generate(url: str, candidatures: int, *, seed: int = 8, large: int | None = None,
             pending: int | None = None, batch: int = 2000, quiet: bool = False,
             verify_audit: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    url = recreate_database(url)
    now = datetime.now(UTC)
    app = bench_app(url)
    with app.app_context():
        from backoffice.db import db

        reference.create(now)
        db.commit()
        ref = reference.load(now)
        start_ids = reference.max_ids([t for t in COLUMNS])
        db.remove()
    app.extensions["db_engine"].dispose()
    generator = Generator(ref, start_ids, candidatures, seed=seed, large=large,
                          pending=pending)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        sink: Any = PostgresSink(parsed.set(drivername="postgresql").render_as_string(
            hide_password=False), COLUMNS)
    else:
        sink = SqliteSink(parsed.database or "", COLUMNS)
    sink.prepare()
    rows = dict.fromkeys(COLUMNS, 0)
    load_start = time.perf_counter()
    done = 0
    for buffers in generator.batches(batch):
        sink.write(buffers)
        for table, values in buffers.items():
            rows[table] += len(values)
        done = rows["candidature"]
        if not quiet and done and done % (batch * 25) == 0:
            elapsed = time.perf_counter() - load_start
            print(f"  {done:>9,} candidatures, {sum(rows.values()):>11,} rows, "
                  f"{elapsed:7.0f} s", file=sys.stderr, flush=True)
    load_seconds = time.perf_counter() - load_start
    finish_start = time.perf_counter()
    sink.finish()
    recount_seconds = recount_queues(url)
    result: dict[str, Any] = {
        "database": make_url(url).render_as_string(hide_password=True),
        "backend": parsed.get_backend_name(),
        "candidatures": candidatures, "seed": seed,
        "rows": rows, "outcomes": dict(generator.counts),
        "large_dossiers": sorted(generator.large.values()),
        "seconds": {"load": round(load_seconds, 1),
                    "indexes_constraints_vacuum": round(time.perf_counter() - finish_start
                                                        - recount_seconds, 1),
                    "queue_counts": round(recount_seconds, 1),
                    "total": round(time.perf_counter() - started, 1)},
        "finish_timings": {k: round(v, 1) for k, v in sink.timings.items()},
        "size_bytes": database_size(url),
    }
    if verify_audit:
        result["verify_audit"] = check_audit(url)
    return result


def recount_queues(url: str) -> float:
    """The home page's counts (models/queue_count.py) and the follows of « Suivis »
    (models/follow.py) of the rows loaded by COPY, which no transaction kept: what `flask
    recompter-files` does."""
    app = bench_app(url)
    start = time.perf_counter()
    with app.app_context():
        from sqlalchemy import text

        from backoffice.db import db
        from backoffice.models.follow import refollow
        from backoffice.models.queue_count import recount

        refollow(db)
        recount(db)
        db.commit()
        db.remove()
        engine = app.extensions["db_engine"]
        if engine.dialect.name == "postgresql":
            # filled after the load's VACUUM ANALYZE: their statistics, and the visibility
            # map that lets « Suivis » and « Mes dossiers » read their indexes alone (as
            # autovacuum keeps them in production)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE dossier_follow"))
                conn.execute(text("VACUUM ANALYZE dossier_holding"))
    app.extensions["db_engine"].dispose()
    return time.perf_counter() - start


def check_audit(url: str) -> dict[str, Any]:
    """The application's own `verify-audit` walk over the generated chain."""
    app = bench_app(url)
    with app.app_context():
        from backoffice.audit import verify_chain

        start = time.perf_counter()
        report = verify_chain()
        seconds = time.perf_counter() - start
    app.extensions["db_engine"].dispose()
    return {"ok": report.ok, "checked": report.checked, "broken_id": report.broken_id,
            "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True,
                        help="postgresql://…/bench_NAME or sqlite:///path.sqlite3")
    parser.add_argument("--candidatures", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--large", type=int, default=None, help="large dossiers (default 3)")
    parser.add_argument("--pending", type=int, default=None,
                        help="candidatures waiting for their certificate")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--verify-audit", action="store_true",
                        help="walk the audit chain with the application's verify_chain")
    parser.add_argument("--output", type=Path, help="write the summary JSON there")
    args = parser.parse_args(argv)
    result = generate(args.database_url, args.candidatures, seed=args.seed, large=args.large,
                      pending=args.pending, batch=args.batch, verify_audit=args.verify_audit)
    measure.report(result, args.output)


if __name__ == "__main__":
    main()
