"""Certificate issuance through the production job worker, over a bench database:

    python -m bench.worker --database-url URL [--redis-url redis://127.0.0.1:6379/14]
                           [--certificates 200] [--baseline 10] [--output FILE]

Queues `certificats.emettre` for the candidatures waiting for their certificate, the way
the application does after a favourable decision, then runs one `python -m
backoffice.worker --burst certificats` process (what `make worker` runs) until the queue is
empty. Reports certificates per second between the first job's start and the last one's
end (RQ's own timestamps: the worker's throughput), and over the process's whole life
(start-up included), the jobs' p50/p95 and the worker's peak RSS. `--baseline N` does the
same for N more candidatures with plain `rq worker`, which forks a cold work-horse per job
(what `make worker` ran before). The notifications those jobs queue go to another queue
and are not run here. The Redis database given is emptied before and after."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import measure
from bench.upload import ROOT

QUEUE = "certificats"


def pending(url: str, limit: int, skip: int = 0) -> list[int]:
    """Candidatures whose certificate is to be issued (the job's own condition)."""
    from sqlalchemy import create_engine, text

    from config import normalise_database_url

    engine = create_engine(normalise_database_url(url))
    with engine.connect() as conn:
        ids = conn.execute(text(
            "SELECT c.id FROM candidature c JOIN candidature_step s ON s.candidature_id = c.id "
            "AND s.step = c.current_step WHERE c.status = 'en_cours' "
            "AND s.status = 'emission_en_cours' ORDER BY c.id LIMIT :n OFFSET :skip"),
            {"n": limit, "skip": skip}).scalars().all()
    engine.dispose()
    return list(ids)


def signed(url: str, ids: list[int]) -> int:
    from sqlalchemy import bindparam, create_engine, text

    from config import normalise_database_url

    engine = create_engine(normalise_database_url(url))
    with engine.connect() as conn:
        count = conn.execute(text(
            "SELECT count(*) FROM certificat WHERE candidature_id IN :ids "
            "AND sha256 IS NOT NULL AND fichier_id IS NOT NULL").bindparams(
            bindparam("ids", expanding=True)), {"ids": ids}).scalar_one()
    engine.dispose()
    return count


def _environment(url: str, redis_url: str, work: Path) -> dict[str, str]:
    from backoffice.signing import generate_demo_material

    # demo signing material for this worker (a new key per run: the bench signs nothing kept)
    material = generate_demo_material(work / "signing")
    return {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url,
            "PYTHONPATH": str(ROOT), "INSTANCE_DIR": str(work), "SECRET_KEY": "bench-only",
            "STORAGE_DIR": str(work / "storage"), "MAIL_OUTBOX_DIR": str(work / "mails"),
            **material}


def issue(url: str, redis_url: str, ids: list[int], command: list[str],
          work: Path) -> dict[str, Any]:
    """Queue one job per candidature, run `command` until the queue is empty."""
    from redis import Redis
    from rq import Queue

    from jobs.certificats import emettre

    connection = Redis.from_url(redis_url)
    connection.flushdb()
    queue = Queue(QUEUE, connection=connection)
    jobs = [queue.enqueue(emettre, candidature_id) for candidature_id in ids]
    log = work / "worker.log"
    start = time.perf_counter()
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=_environment(url, redis_url, work),  # noqa: S603
                                   stdout=output, stderr=subprocess.STDOUT)
        peak = 0
        while process.poll() is None:  # the worker process's own peak (VmHWM)
            peak = max(peak, _peak(process.pid))
            time.sleep(0.05)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"worker failed: {log.read_text()[-2000:]}")
    for job in jobs:
        job.refresh()
    failed = [job.id for job in jobs if job.get_status() != "finished"]
    if failed:
        raise RuntimeError(f"{len(failed)} job(s) did not finish: {log.read_text()[-2000:]}")
    first = min(job.started_at for job in jobs)
    last = max(job.ended_at for job in jobs)
    span = (last - first).total_seconds()
    notifications = Queue("notifications", connection=connection).count
    connection.flushdb()
    return {"issued": len(ids), "signed": signed(url, ids),
            "per_second": round(len(ids) / span, 1) if span else None,
            "per_second_with_start": round(len(ids) / wall, 1), "seconds": round(span, 2),
            "seconds_with_start": round(wall, 2),
            **measure.summary([(job.ended_at - job.started_at).total_seconds() * 1000
                               for job in jobs]),
            "peak_rss_mb": round(peak / measure.MB, 1),  # a forking worker's horses not included
            "notifications_queued": notifications}


def _peak(pid: int) -> int:
    try:
        return measure.peak_rss(pid)
    except (FileNotFoundError, ProcessLookupError, KeyError):  # it has just ended (zombie)
        return 0


def run(url: str, redis_url: str, certificates: int = 200, baseline: int = 0,
        work: Path | None = None) -> dict[str, Any]:
    ids = pending(url, certificates + baseline)
    result: dict[str, Any] = {"cores": os.cpu_count()}
    if len(ids) < certificates + baseline:  # a small database, or one already used
        baseline = min(baseline, len(ids) // 10)
        certificates = len(ids) - baseline
        result["note"] = f"only {len(ids)} candidatures waited for their certificate"
    if certificates < 1:
        raise RuntimeError("no candidature waits for its certificate any more")
    work = work or Path(tempfile.mkdtemp(prefix="bench-worker-"))
    result["worker"] = issue(url, redis_url, ids[:certificates],
                             [sys.executable, "-m", "backoffice.worker", "--burst", QUEUE], work)
    if baseline:
        result["rq_worker_forking"] = issue(
            url, redis_url, ids[certificates:],
            [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, QUEUE],
            work)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14",
                        help="a Redis database for the bench alone: it is emptied")
    parser.add_argument("--certificates", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=0,
                        help="certificates issued by plain `rq worker` as well")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = run(args.database_url, args.redis_url, args.certificates, args.baseline)
    measure.report(result, args.output)


if __name__ == "__main__":
    main()
