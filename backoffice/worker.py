"""The production job worker: `python -m backoffice.worker [--burst] [queue ...]`
(`make worker`); every queue when none is named.

Why not plain `rq worker`: its default worker forks a work-horse for each job, and that
horse starts cold — it builds the application and imports pyHanko for every job (about a
second; measured: 0.9 certificates/s per worker, docs/benchmarks.md). This worker builds
the application once, imports what the jobs use, moves the objects made at start-up out of
the garbage collector's sight (`gc.freeze`: a full collection no longer walks them), then
runs the jobs in its own process (RQ's `SimpleWorker`). Each job still gets its own
application context and database session (`jobs.job`); a job's time limit still applies
(RQ's SIGALRM death penalty runs in the main thread).

It also runs RQ's scheduler, without which a failed job's retry (`Retry(interval=…)`,
`tasks.enqueue`) would wait in the scheduled registry for ever, and, when it listens to
the `periodiques` queue, the planner of the periodic jobs (jobs/periodiques.py: due
mails, waiting jobs, stuck issuances, rescans, purges), each run once per period across
every worker and host."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
from collections.abc import Sequence

log = logging.getLogger(__name__)

# imported at start-up rather than by the first job that needs them
WARM_MODULES = ("pyhanko.sign.signers", "pyhanko.sign.fields",
                "pyhanko.pdf_utils.incremental_writer", "segno")


def prepare(queues: Sequence[str]):
    """Build the application once for every job of this process, import the jobs and
    what they use, then freeze the start-up heap."""
    import jobs
    from backoffice import create_app
    from backoffice.settings_check import enforce

    app = create_app()
    enforce(app, "worker")  # production: unsafe settings or a schema behind head stop it here
    jobs.use_app(app)
    for queue in queues:
        importlib.import_module(f"jobs.{queue}")
    for name in WARM_MODULES:
        importlib.import_module(name)
    # RQ's scheduler runs in a forked process: no database connection may be shared with it
    app.extensions["db_engine"].dispose()
    gc.collect()
    gc.freeze()
    return app


def build_worker(app, queues: Sequence[str]):
    from rq import SimpleWorker

    from backoffice.tasks import redis_connection

    with app.app_context():
        if not app.config.get("REDIS_URL"):
            raise SystemExit("REDIS_URL n'est pas défini : le worker lit ses tâches dans Redis.")
        connection = redis_connection()
    return SimpleWorker(list(queues), connection=connection)


def main(argv: Sequence[str] | None = None) -> None:
    from backoffice.tasks import all_queues

    parser = argparse.ArgumentParser(
        prog="python -m backoffice.worker",
        description="Exécute les tâches de fond (RQ) : l'application est construite une fois.")
    parser.add_argument("queues", nargs="*", help="files à écouter (toutes par défaut)")
    parser.add_argument("--burst", action="store_true",
                        help="s'arrêter quand les files sont vides")
    parser.add_argument("--max-jobs", type=int, default=None,
                        help="s'arrêter après ce nombre de tâches (le superviseur relance)")
    parser.add_argument("--sans-periodiques", action="store_true",
                        help="ne pas planifier les tâches périodiques (envois, purges…)")
    args = parser.parse_args(argv)
    known = all_queues()
    unknown = sorted(set(args.queues) - set(known))
    if unknown:
        parser.error(f"file(s) inconnue(s) : {', '.join(unknown)} (connues : {', '.join(known)})")
    queues = args.queues or known
    app = prepare(queues)
    worker = build_worker(app, queues)
    stop = None
    if "periodiques" in queues and not (args.burst or args.sans_periodiques):
        stop = start_periodic(app)
    try:
        worker.work(burst=args.burst, max_jobs=args.max_jobs, with_scheduler=True,
                    logging_level="INFO")
    finally:
        if stop is not None:
            stop.set()


def start_periodic(app):
    """The periodic jobs' planner, in a thread of this worker (it only talks to Redis;
    the jobs it queues run like any other). A bad PERIODIC_JOBS stops the start."""
    from backoffice.tasks import redis_connection
    from jobs import periodiques

    with app.app_context():
        try:
            periods = periodiques.periods()
        except ValueError as error:
            raise SystemExit(str(error)) from error
        return periodiques.start(redis_connection(), periods)


if __name__ == "__main__":
    main()
