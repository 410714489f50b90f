"""Memory of a queue export written by the job (issue 19 item 3: an export of 1,000,000
rows completes as a job with memory growth ≤ 50 MB):

    python -m bench.export_memory --database-url postgresql://…/bench_export \
        --candidatures 1000000 --format csv   # then --reuse --format xlsx
    python -m bench.export_memory --database-url postgresql://…/bench_1m --reuse \
        --vue tous --format csv               # every candidature: 1,000,000 rows

1. generates the bench database (`bench.generate`; its name must start with "bench"),
   unless --reuse;
2. asks for an export of the whole queue as the bench's lead vérificateur (both teams):
   « À traiter » (about a third of the candidatures), or with --vue the view named (« tous »:
   every candidature);
3. runs the export job (`jobs.exports.produire`) in this process, as the embedded mode
   and the worker do, while a thread samples the process's resident memory (/proc) every
   20 ms; --tracemalloc also traces Python's allocations (slower: about twice the time);
4. reports the rows written, the seconds, the file's size, the resident memory before,
   its peak during the job and the growth, and the load average around the run.

Prints (and writes with --output) the result as JSON."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.generate import bench_app, generate
from bench.reference import LEAD_EMAIL


def rss_bytes() -> int:
    """The process's resident memory now (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakSampler(threading.Thread):
    def __init__(self, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.every, self.peak, self.stop = every, rss_bytes(), threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self.stop.wait(self.every)


def run_export(url: str, fmt: str, *, trace: bool = False,
               view: str | None = None) -> dict[str, Any]:
    from sqlalchemy import select

    from backoffice.db import db
    from backoffice.models import Export, User
    from backoffice.queues.export import describe
    from jobs.exports import produire

    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    app = bench_app(url)
    app.config.update(EXPORT_DIR=str(folder / "exports"), MAIL_OUTBOX_DIR=str(folder / "mails"),
                      STORAGE_DIR=str(folder / "storage"))
    with app.app_context():
        lead = db.scalar(select(User).where(User.email == LEAD_EMAIL))
        filters = {"vue": view} if view else {}
        export = Export(requester_id=lead.id, format=fmt, filters=filters,
                        description=describe(filters))
        db.add(export)
        db.commit()
        export_id = export.id
        db.remove()
    load_before = os.getloadavg()
    sampler = PeakSampler()
    with app.app_context():
        # warm-up: imports and the first connection are not the export's growth
        db.scalar(select(User.id).limit(1))
        import openpyxl  # noqa: F401
        db.remove()
        before = sampler.peak = rss_bytes()
        if trace:
            tracemalloc.start()
        sampler.start()
        started = time.perf_counter()
        status = produire(export_id)
        seconds = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        export = db.get(Export, export_id)
        result = {
            "format": fmt, "view": view or "a_traiter", "status": status,
            "rows": export.rows_written,
            "rows_total": export.rows_total, "seconds": round(seconds, 1),
            "rows_per_second": round(export.rows_written / seconds) if seconds else None,
            "file_bytes": export.file_size,
            "rss_before_mb": round(before / 2**20, 1),
            "rss_peak_mb": round(sampler.peak / 2**20, 1),
            "rss_growth_mb": round((sampler.peak - before) / 2**20, 1),
            "tracemalloc_peak_mb": round(traced_peak / 2**20, 1) if trace else None,
            "load_average": [load_before, os.getloadavg()],
        }
        db.remove()
    app.extensions["db_engine"].dispose()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.export_memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--candidatures", type=int, default=10_000)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--reuse", action="store_true",
                        help="export from the database as it is (no generation)")
    parser.add_argument("--vue", choices=("a_traiter", "suivis", "traites", "tous"),
                        help="the queue's view to export (default: a_traiter)")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {}
    if not args.reuse:
        generated = generate(args.database_url, args.candidatures, quiet=True)
        result["generated"] = {"candidatures": args.candidatures,
                               "seconds": generated["seconds"]["total"]}
    from config import normalise_database_url

    result["export"] = run_export(normalise_database_url(args.database_url), args.format,
                                  trace=args.tracemalloc, view=args.vue)
    text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
