"""/statistiques at scale, beside the same figures computed naively, in one run:

    python -m bench.statistics --database-url postgresql://postgres@127.0.0.1:5432/bench_stats \
        --candidatures 10000 --output bench-statistics.json

1. a bench database of N candidatures (bench.generate; --reuse keeps an existing one);
2. the periodic job's complete recount, then an incremental one (timed);
3. GET /statistiques as an administrator, `--repeat` times: server-side p50/p95/p99 and
   the SQL statements of one page;
4. the naive computation of the same figures straight from the raw tables (timed), and
   a check that both give the same numbers (exit status 1 if not).

At 1M candidatures (docs/benchmarks/statistics.md): generate once with bench.generate,
then `--reuse --naive-repeat 1` for the first run; `--reuse --page-only` for the next ones
(the page against the aggregates the first run wrote: neither the complete recount nor the
naive computation again). The load average (/proc/loadavg) before and after is recorded."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from backoffice.db import db
from backoffice.models import Candidature, StatWeekly, User
from bench import measure
from bench.reference import LEAD_EMAIL
from bench.run import make_app, signed_in_client

PAGE = "/statistiques/?periode=52"


def _timed(call: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, round((time.perf_counter() - start) * 1000, 1)


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def run(url: str, repeat: int, naive_repeat: int, page_only: bool = False,
        checkpoint: Any = None) -> dict[str, Any]:
    """`checkpoint(out)`, if given, is called with the figures so far before the naive
    computation (tens of minutes at 1M): the page's figures are kept if it is stopped."""
    from backoffice.statistics import aggregate, naive
    from backoffice.statistics.facts import Filters, from_aggregates
    from backoffice.workflow.definitions import DEMARCHES

    workdir = Path(tempfile.mkdtemp(prefix="bench-statistics-"))
    app = make_app(url, workdir)
    out: dict[str, Any] = {}
    with app.app_context():
        lead = db.scalar(select(User).where(User.email == LEAD_EMAIL))
        lead.roles = {*lead.roles, "admin"}  # the page with every table
        db.commit()
        if not page_only:
            result, out["job_complete_ms"] = _timed(
                lambda: aggregate.rafraichir(complet=True))
            db.commit()
            out["job_complete_rows"] = result
            _, out["job_incremental_ms"] = _timed(lambda: aggregate.rafraichir())
            db.commit()
        out["stat_weekly_rows"] = db.scalar(select(func.count()).select_from(StatWeekly))
        out["candidatures_in_database"] = db.scalar(
            select(func.count()).select_from(Candidature))
    engine = app.extensions["db_engine"]
    client, _ = signed_in_client(app)

    def get() -> None:
        response = client.get(PAGE)
        if response.status_code != 200:
            raise RuntimeError(f"GET {PAGE}: {response.status_code}")

    out["page"] = measure.timed_requests(get, engine, repeat)
    out["page"]["url"] = PAGE
    if page_only:
        return out
    if checkpoint:
        checkpoint(out)
    with app.app_context():
        filters = Filters.last_weeks(tuple(DEMARCHES), 52)
        at = db.scalar(select(db_max_computed()))
        aggregated, out["aggregates_read_ms"] = _timed(lambda: from_aggregates(filters))
        times = []
        for _ in range(naive_repeat):
            computed, ms = _timed(lambda: naive.compute(filters, at))
            times.append(ms)
            db.expunge_all()
        out["naive"] = measure.summary(times)
        out["same_numbers"] = aggregated == computed
    return out


def db_max_computed() -> Any:
    from sqlalchemy import func

    from backoffice.models import StatCurrent

    return func.max(StatCurrent.computed_at)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--candidatures", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true", help="keep the existing database")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--naive-repeat", type=int, default=3)
    parser.add_argument("--page-only", action="store_true",
                        help="with --reuse: the page only, on the aggregates already there")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"candidatures": args.candidatures}
    if not args.reuse:
        from bench.generate import generate

        result["generate"] = generate(args.database_url, args.candidatures, quiet=True)
        url = result["generate"]["database"]
    else:
        url = args.database_url
    from config import normalise_database_url

    result["loadavg_before"] = _loadavg()

    def checkpoint(partial: dict[str, Any]) -> None:
        if args.output:
            args.output.write_text(json.dumps(
                {**result, **partial, "loadavg_at_checkpoint": _loadavg(),
                 "naive": "running"}, indent=2, default=str))

    result.update(run(normalise_database_url(args.database_url), args.repeat,
                      args.naive_repeat, args.page_only, checkpoint))
    result["loadavg_after"] = _loadavg()
    del url
    text = json.dumps(result, indent=2, default=str)
    if args.output:
        args.output.write_text(text)
    print(text)
    if not result.get("same_numbers", True):
        sys.exit("the aggregates and the naive computation differ")


if __name__ == "__main__":
    main()
