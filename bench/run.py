"""Server-side measurements on a bench database, in-process (Flask's test client, so
the time is the application's and the database's, without a network or a web server):

    python -m bench.run --database-url URL [--smoke] [--output FILE]

- queue: first page, the page reached after --depth pages of keyset navigation, filtered,
  searched, sorted — and the baseline (a default Flask-Admin list of the same table, page
  0 and page --depth, unsorted and sorted by date), in the same run;
- pages: home, section queue, every tab of a large dossier, its section review page;
  each with its number of SQL queries (budget: 8);
- csv: the queue's CSV export (--csv-rows rows at most): time, rows/s, memory growth;
- certificates: signed certificates issued per second by one worker (the job itself).

The gunicorn measurements are bench/upload.py (1 GB upload) and bench/load.py (50
concurrent vérificateurs)."""

from __future__ import annotations

import argparse
import gc
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from backoffice.db import db, utcnow
from backoffice.models import Candidature, CandidatureStep, Message, Preuve, User
from backoffice.queues import candidatures as queue
from bench import measure
from bench.app import BASELINE_URL, baseline_sort_index, create_bench_app
from bench.dataset import LARGE_REFERENCES
from bench.generate import SECRET_KEY
from bench.reference import LEAD_EMAIL
from config import normalise_database_url

QUERY_BUDGET = 8
LARGE = LARGE_REFERENCES[0]


def make_app(url: str, workdir: Path):
    from backoffice.signing import generate_demo_material

    config = {"SQLALCHEMY_DATABASE_URI": normalise_database_url(url), "REDIS_URL": None,
              "STORAGE_DIR": str(workdir / "storage"), "MAIL_OUTBOX_DIR": str(workdir / "mails"),
              "SESSION_COOKIE_SECURE": False, "SECRET_KEY": SECRET_KEY,
              **generate_demo_material(workdir / "signing")}
    app = create_bench_app(config)
    # as gunicorn.conf.py's post_worker_init does in each web worker: start-up's objects out
    # of the garbage collector's sight (else a full collection adds ~100 ms to one request
    # in a few hundred, and lands in the figures as a p95)
    gc.collect()
    gc.freeze()
    return app


def signed_in_client(app, email: str = LEAD_EMAIL):
    with app.app_context():
        user_id = db.scalar(select(User.id).where(User.email == email))
    client = app.test_client()
    response = client.get(f"/_bench/session/{user_id}")
    assert response.status_code == 200, response.status_code
    return client, user_id


def _get(client, url: str, expect: str | None = None):
    def call() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code}")
        if expect and expect not in response.get_data(as_text=True):
            raise RuntimeError(f"GET {url}: {expect!r} not in the page")

    return call


# --- the queue and its baseline ---------------------------------------------------------


def queue_facts(app, user_id: int) -> dict[str, Any]:
    with app.app_context():
        user = db.get(User, user_id)
        stmt, _, _ = queue.base_query(user, queue.Filters(), utcnow())
        visible = db.scalar(select(func.count()).select_from(stmt.subquery()))
        total = db.scalar(select(func.count(Candidature.id)))
        step = aliased(CandidatureStep)
        sample = db.scalar(select(Candidature.reference).join(
            step, (step.candidature_id == Candidature.id)
            & (step.step == Candidature.current_step)).where(
            Candidature.status == "en_cours").order_by(Candidature.id.desc()).limit(1))
        large = db.scalar(select(Candidature.id).where(Candidature.reference == LARGE))
        large_sizes = {
            "preuves": db.scalar(select(func.count(Preuve.id)).where(
                Preuve.candidature_id == large)),
            "messages": db.scalar(select(func.count(Message.id)).where(
                Message.candidature_id == large))}
    return {"candidatures": total, "visible_en_cours": visible, "sample_reference": sample,
            "large_dossier": {"reference": LARGE, **large_sizes}}


def deep_cursor(app, user_id: int, depth: int) -> str:
    """The `apres` cursor of the page reached after `depth` clicks on "page suivante",
    read with one OFFSET query (walking 1,000 pages would take as long as the benchmark).
    The smoke test checks it against a real walk."""
    from backoffice.models import Candidature as C

    with app.app_context():
        user = db.get(User, user_id)
        stmt, sort_expr, _ = queue.base_query(user, queue.Filters(), utcnow())
        row = db.execute(stmt.order_by(sort_expr.asc(), C.id.asc())
                         .offset(depth * queue.PAGE_SIZE - 1).limit(1)).one()
        return queue.encode_cursor(queue._as_utc(row.sort_value), row.id)


def walked_cursor(app, user_id: int, depth: int) -> str | None:
    with app.app_context():
        user = db.get(User, user_id)
        cursor = None
        for _ in range(depth):
            _, cursor = queue.page(user, queue.Filters(), after=cursor, now=utcnow())
        return cursor


def bench_queue(app, client, user_id: int, facts: dict[str, Any], depth: int,
                repeat: int, warmup: int = 2) -> dict[str, Any]:
    engine = app.extensions["db_engine"]
    depth = min(depth, (facts["visible_en_cours"] - 1) // queue.PAGE_SIZE)
    cursor = deep_cursor(app, user_id, depth) if depth > 0 else ""
    scenarios = {
        "first": "/instruction/file",
        "deep": f"/instruction/file?apres={cursor}",
        "filtered_demarche_step": "/instruction/file?demarche=sons_sas&etape=preuves",
        "filtered_unassigned_soumise": "/instruction/file?attribution=personne&statut=soumise",
        "filtered_mine": "/instruction/file?attribution=moi",
        "filtered_ans_turn": "/instruction/file?tour=ans",
        "filtered_overdue_by_due_date": "/instruction/file?en_retard=1&tri=echeance",
        "sorted_by_activity": "/instruction/file?tri=activite",
        "searched_name": "/instruction/file?q=cardiotrack",
        "searched_common_prefix": "/instruction/file?q=care",
        # an exact reference opens the dossier (a redirect): its first 8 letters are searched
        "searched_reference": f"/instruction/file?q={facts['sample_reference'][:8]}",
    }
    out: dict[str, Any] = {"depth_pages": depth, "deep_cursor": cursor}
    for name, url in scenarios.items():
        out[name] = measure.timed_requests(_get(client, url), engine, repeat, warmup)
        out[name]["url"] = url
    sort = baseline_sort_index(app)
    baseline = {
        "first": BASELINE_URL,
        "deep": f"{BASELINE_URL}?page={depth}",
        "first_sorted_by_date": f"{BASELINE_URL}?sort={sort}",
        "deep_sorted_by_date": f"{BASELINE_URL}?sort={sort}&page={depth}",
    }
    base: dict[str, Any] = {"depth_pages": depth}
    for name, url in baseline.items():
        base[name] = measure.timed_requests(_get(client, url), engine, repeat, warmup)
        base[name]["url"] = url
    return {"backoffice": out, "baseline": base}


# --- pages --------------------------------------------------------------------------------


def bench_pages(app, client, repeat: int, warmup: int = 2) -> dict[str, Any]:
    engine = app.extensions["db_engine"]
    dossier = f"/instruction/candidatures/{LARGE}"
    pages = {
        "home": ("/instruction/", None),
        "section_queue": ("/instruction/sections", None),
        "dossier_formulaire": (dossier, LARGE),
        "dossier_pieces": (f"{dossier}?onglet=pieces", LARGE),
        "dossier_preuves": (f"{dossier}?onglet=preuves", LARGE),
        "dossier_messagerie": (f"{dossier}?onglet=messagerie", LARGE),
        "dossier_historique": (f"{dossier}?onglet=historique", LARGE),
        "dossier_produit": (f"{dossier}?onglet=produit", LARGE),
        "section_review": (f"{dossier}/sections/INS", "INS"),
    }
    out = {}
    for name, (url, expect) in pages.items():
        out[name] = measure.timed_requests(_get(client, url, expect), engine, repeat, warmup)
        out[name]["url"] = url
    return out


# --- CSV export ------------------------------------------------------------------------


def bench_csv(app, client, max_rows: int) -> dict[str, Any]:
    engine = app.extensions["db_engine"]
    measure.reset_peak()
    before = measure.rss()
    lines = size = 0
    with measure.sql_statements(engine) as statements:
        start = time.perf_counter()
        response = client.get("/instruction/file.csv", buffered=False)
        assert response.status_code == 200, response.status_code
        for chunk in response.response:
            lines += chunk.count(b"\n")
            size += len(chunk)
            if lines > max_rows:
                break
        response.close()
        seconds = time.perf_counter() - start
    rows = min(lines - 1, max_rows)
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds),
            "bytes": size, "queries": len(statements),
            "rss_before_mb": round(before / measure.MB, 1),
            "peak_growth_mb": round((measure.peak_rss() - before) / measure.MB, 1),
            "truncated_at_max_rows": lines > max_rows}


# --- certificates -------------------------------------------------------------------------


def bench_certificates(app, count: int) -> dict[str, Any]:
    """Issue `count` pending certificates with the job a worker runs, one after the other.
    The notifications they queue are not run here (in production they go to another
    queue, other workers)."""
    from backoffice import tasks
    from backoffice.models import Certificat
    from jobs.certificats import emettre

    with app.app_context():
        ids = db.scalars(select(Candidature.id).join(
            CandidatureStep, (CandidatureStep.candidature_id == Candidature.id)
            & (CandidatureStep.step == Candidature.current_step)).where(
            Candidature.status == "en_cours", CandidatureStep.status == "emission_en_cours")
            .order_by(Candidature.id).limit(count)).all()
    if not ids:
        return {"issued": 0, "note": "no candidature waits for its certificate any more"}
    deferred: list[str] = []
    saved = tasks._run_in_process
    tasks._run_in_process = lambda name, func, args: deferred.append(name)
    times = []
    try:
        start = time.perf_counter()
        for candidature_id in ids:
            t = time.perf_counter()
            with app.app_context():
                number = emettre(candidature_id)
            if number is None:
                raise RuntimeError(f"no certificate for candidature {candidature_id}")
            times.append((time.perf_counter() - t) * 1000)
        seconds = time.perf_counter() - start
    finally:
        tasks._run_in_process = saved
    with app.app_context():
        signed = db.scalar(select(func.count(Certificat.id)).where(
            Certificat.candidature_id.in_(ids), Certificat.sha256.is_not(None)))
    return {"issued": len(ids), "signed": signed, "seconds": round(seconds, 2),
            "per_second": round(len(ids) / seconds, 1), **measure.summary(times),
            "notifications_deferred": len(deferred)}


# --- the run --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = measure._status("self", "VmRSS") and next(
        int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal"))
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem / 1024**3, 1),
            "python": platform.python_version(), "load_average": os.getloadavg()}


def database_settings(app) -> dict[str, Any]:
    from sqlalchemy import text

    with app.app_context():
        if db.get_bind().dialect.name != "postgresql":
            import sqlite3

            return {"engine": f"SQLite {sqlite3.sqlite_version}"}
        settings = dict(db.execute(text(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
            "('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', "
            "'max_parallel_workers_per_gather', 'jit', 'autovacuum')")).all())
        settings["engine"] = db.scalar(text("SELECT version()")).split(" on ")[0]
        settings["size_bytes"] = db.scalar(text("SELECT pg_database_size(current_database())"))
        return settings


def run(url: str, *, smoke: bool = False, repeat: int | None = None, depth: int = 1000,
        csv_rows: int = 100_000, certificates: int | None = None,
        only: set[str] | None = None) -> dict[str, Any]:
    repeat = repeat or (2 if smoke else 30)
    warmup = 1 if smoke else 2
    certificates = certificates if certificates is not None else (2 if smoke else 40)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        app = make_app(url, Path(tmp))
        client, user_id = signed_in_client(app)
        facts = queue_facts(app, user_id)
        result: dict[str, Any] = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), "database": database_settings(app), "dataset": facts,
            "smoke": smoke, "repeat": repeat}
        wanted = only or {"queue", "pages", "csv", "certificates"}
        if "queue" in wanted:
            result["queue"] = bench_queue(app, client, user_id, facts, depth, repeat, warmup)
        if "pages" in wanted:
            result["pages"] = bench_pages(app, client, repeat, warmup)
        if "csv" in wanted:
            result["csv"] = bench_csv(app, client, csv_rows)
        if "certificates" in wanted:
            result["certificates"] = bench_certificates(app, certificates)
        result["budget"] = over_budget(result)
        result["machine"]["load_average_after"] = os.getloadavg()
        app.extensions["db_engine"].dispose()
    return result


def over_budget(result: dict[str, Any]) -> dict[str, Any]:
    """Every list or dossier page of the back-office against the query budget."""
    counts = {}
    for name, stats in result.get("queue", {}).get("backoffice", {}).items():
        if isinstance(stats, dict):
            counts[f"queue.{name}"] = stats["queries"]
    for name, stats in result.get("pages", {}).items():
        counts[f"pages.{name}"] = stats["queries"]
    return {"limit": QUERY_BUDGET, "max": max(counts.values(), default=0),
            "over": {k: v for k, v in counts.items() if v > QUERY_BUDGET}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--smoke", action="store_true", help="2 repetitions, 2 certificates")
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--csv-rows", type=int, default=100_000)
    parser.add_argument("--certificates", type=int)
    parser.add_argument("--only", help="comma-separated: queue,pages,csv,certificates")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = run(args.database_url, smoke=args.smoke, repeat=args.repeat, depth=args.depth,
                 csv_rows=args.csv_rows, certificates=args.certificates,
                 only=set(args.only.split(",")) if args.only else None)
    measure.report(result, args.output, quiet=True)


if __name__ == "__main__":
    main()
