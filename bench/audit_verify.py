"""Incremental audit verification at scale (issue 19 item 5: `verify-audit` after 10,000
new events ≤ 5 s at 10M audit rows):

    python -m bench.audit_verify --database-url postgresql://…/bench_audit --rows 1000000

1. recreates the database (its name must start with "bench"), migrated;
2. loads ROWS keyed audit events, a valid HMAC chain computed with the application's own
   `compute_hash` (COPY on PostgreSQL, executemany on SQLite);
3. records a checkpoint at that head (the job's own CheckpointStore; the big chain is not
   walked for it unless --full is given, which also times the full walk);
4. appends NEW events through the application's write path (`audit.record`);
5. times `verify-audit`'s incremental verification (run_verification, read-only) REPEAT
   times, and reports the seconds, the rows read, and the load average around the runs
   (the machines are shared).

Prints (and writes with --output) the result as JSON."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import make_url, text

from bench import measure
from bench.generate import SECRET_KEY, recreate_database

KEY = "bench-only-audit-key-not-a-secret-0123456789"
COLUMNS = ("id", "created_at", "actor_id", "actor_label", "action", "target_type",
           "target_id", "candidature_id", "before", "after", "request_id", "prev_hash",
           "hash", "hash_scheme")
ACTIONS = ("recevabilite.valider", "recevabilite.prendre", "preuves.section_validee",
           "messagerie.message_envoye", "support.fichier_supprime", "convention.envoyer")


def _app(url: str, checkpoint_dir: Path):
    from backoffice import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                       "SECRET_KEY": SECRET_KEY, "AUDIT_HMAC_KEY": KEY,
                       "AUDIT_CHECKPOINT_DIR": str(checkpoint_dir)})


def _rows(count: int, batch: int):
    """Keyed, chained rows in id order, `batch` at a time."""
    import json

    from backoffice.audit import GENESIS, KEYED, compute_hash

    key = KEY.encode()
    prev, start = GENESIS, datetime(2024, 1, 1, tzinfo=UTC)
    out: list[tuple[Any, ...]] = []
    for i in range(1, count + 1):
        event = SimpleNamespace(
            created_at=start + timedelta(seconds=i * 7), actor_id=None,
            actor_label=f"verificateur{i % 50}@ans.example", action=ACTIONS[i % len(ACTIONS)],
            target_type="candidature", target_id=str(i // 3), candidature_id=None,
            before={"status": "soumise"}, after={"status": "en_instruction", "n": i},
            request_id=f"{i:032x}", prev_hash=prev, hash_scheme=KEYED)
        event.hash = compute_hash(event, key)
        prev = event.hash
        out.append((i, event.created_at, None, event.actor_label, event.action,
                    event.target_type, event.target_id, None, json.dumps(event.before),
                    json.dumps(event.after), event.request_id, event.prev_hash, event.hash,
                    KEYED))
        if len(out) == batch:
            yield out
            out = []
    if out:
        yield out


def load(url: str, count: int, batch: int = 20_000) -> dict[str, Any]:
    started = time.perf_counter()
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        import psycopg

        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
            for rows in _rows(count, batch):
                with cur.copy(f"COPY audit_event ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            cur.execute("SELECT setval('audit_event_id_seq', %s)", (count,))
            conn.commit()
            conn.autocommit = True
            cur.execute("VACUUM ANALYZE audit_event")
    else:
        import sqlite3

        conn = sqlite3.connect(parsed.database or "")
        marks = ", ".join("?" for _ in COLUMNS)
        for rows in _rows(count, batch):
            conn.executemany(f"INSERT INTO audit_event ({', '.join(COLUMNS)}) "  # noqa: S608  # nosec B608
                             f"VALUES ({marks})",
                             [(r[0], r[1].replace(tzinfo=None).isoformat(" "), *r[2:])
                              for r in rows])
            conn.commit()
        conn.close()
    return {"rows": count, "seconds": round(time.perf_counter() - started, 1)}


def run(url: str, rows: int, new: int, repeat: int, full: bool) -> dict[str, Any]:
    url = recreate_database(url)
    result: dict[str, Any] = {"database": make_url(url).get_backend_name(),
                              "cpu_count": os.cpu_count(),
                              "load_average_start": os.getloadavg()}
    result["load"] = load(url, rows)
    with tempfile.TemporaryDirectory(prefix="audit-checkpoints-") as folder:
        app = _app(url, Path(folder))
        try:
            with app.app_context():
                result.update(_measure(rows, new, repeat, full))
        finally:
            app.extensions["db_engine"].dispose()
    return result


def _measure(rows: int, new: int, repeat: int, full: bool) -> dict[str, Any]:
    from backoffice import audit
    from backoffice.audit import ChainReport, audit_key
    from backoffice.audit_checkpoints import CheckpointStore, directory, run_verification
    from backoffice.db import db

    result: dict[str, Any] = {}
    if full:
        load_before = os.getloadavg()
        start = time.perf_counter()
        outcome = run_verification(full=True, write=True)
        result["full_walk"] = {"seconds": round(time.perf_counter() - start, 2),
                               "ok": outcome.report.ok, "checked": outcome.report.checked,
                               "load_average": [load_before, os.getloadavg()]}
    else:  # the checkpoint the periodic job would have written at this head
        head = db.execute(text("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1")).one()
        report = ChainReport(True, rows, last_id=head.id, last_hash=head.hash, last_scheme=2)
        CheckpointStore(directory(), audit_key()).write(report, rows)
    db.commit()

    start = time.perf_counter()
    for i in range(new):
        audit.record("bench", ACTIONS[i % len(ACTIONS)], "candidature", after={"i": i})
        if i % 500 == 499:
            db.commit()
    db.commit()
    result["append"] = {"events": new, "seconds": round(time.perf_counter() - start, 1)}

    runs = []
    for _ in range(repeat):
        db.remove()  # a cold session each time, as a fresh `flask verify-audit`
        load_before = os.getloadavg()
        start = time.perf_counter()
        outcome = run_verification(full=False, write=False)
        seconds = time.perf_counter() - start
        report = outcome.report
        runs.append({"seconds": round(seconds, 3), "ok": report.ok, "checked": report.checked,
                     "rows_fetched": report.fetched,
                     "load_average": [load_before, os.getloadavg()]})
    result["incremental"] = runs
    result["incremental_seconds"] = sorted(r["seconds"] for r in runs)
    result["load_average_end"] = os.getloadavg()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True,
                        help="postgresql://…/bench_NAME or sqlite:///path.sqlite3")
    parser.add_argument("--rows", type=int, default=1_000_000, help="audit rows loaded first")
    parser.add_argument("--new", type=int, default=10_000, help="events appended afterwards")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", action="store_true",
                        help="also time the full walk (it writes the first checkpoint)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    measure.report(run(args.database_url, args.rows, args.new, args.repeat, args.full),
                   args.output)


if __name__ == "__main__":
    main()
