"""gunicorn's settings for the back-office: read by gunicorn when it starts from this
folder (`make serve-production`, deploy/systemd/convergence-web.service, the benchmarks);
the command line overrides them. The application to serve is `backoffice.wsgi:app`.

Threaded workers (gthread): a browser keeps its connection open between two clicks
(HTTP keep-alive); a sync worker would either close it at each answer or sit idle on it,
unable to serve anyone else until the next click (measured in docs/benchmarks.md: 50
vérificateurs with think time, 4 sync workers, 49 requests/s with a p95 over one second).
A thread waiting on a connection or on PostgreSQL costs no CPU; one process per core and
a few threads each keep both cores busy.

A thread is also held while a request's body arrives: a client sending slowly would hold it
for as long as it likes. Production puts nginx in front (deploy/nginx/), which receives
every body in full before passing the request on (docs/operations.md, "Production: behind
nginx")."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count())
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Connections waiting to be accepted (the kernel's queue; gunicorn's default is 2048). nginx
# hands gunicorn at most max_conns requests at once (deploy/nginx/convergence.conf) plus
# its idle keep-alive connections, so this bound only matters when gunicorn stops accepting:
# a short queue then fails nginx's connection within its proxy_connect_timeout (an error page)
# instead of holding thousands of requests nobody will wait for (issue 19, item 6).
backlog = int(os.environ.get("GUNICORN_BACKLOG", "64"))
# an idle keep-alive connection is closed after this many seconds
keepalive = 5
# a worker that stops answering its heartbeat for this long is restarted (large uploads
# run in a thread: the heartbeat goes on meanwhile)
timeout = 60
# On a stop or a reload, requests in progress get this long to finish. The longest is a
# 2 GB zip of the ligne générique, passed on by nginx once it has it all: read from the
# loopback at ≥ 250 MB/s (docs/benchmarks.md) and inspected, well under a minute; nginx
# waits up to 300 s for the answer on that route (deploy/nginx/convergence.conf,
# proxy_read_timeout), and so does a stop. systemd's TimeoutStopSec is a little longer.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "300"))

# Logs: gunicorn's error and access logs in the application's format (JSON lines in
# production), through the same handler (backoffice/logs.py); the access line carries the
# request id, user and route. GUNICORN_ACCESS_LOG= (empty) turns the access log off.
logger_class = "backoffice.logs.GunicornLogger"
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"

# Prometheus (backoffice/metrics.py): each worker counts its requests in files of this
# folder, added up at scrape time. It must be set before the application is imported, so
# here, in the master; the systemd unit gives /run/convergence/metrics.
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="backoffice-metrics-")


def on_starting(server) -> None:
    """In the master, before any worker: refuse to start on unsafe production settings (one
    French line per problem, exit 1: backoffice/settings_check.py), and forget the previous
    run's per-process metric files."""
    from backoffice.settings_check import enforce_environment

    enforce_environment("web")
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def post_worker_init(worker) -> None:
    """In each worker, once the application is built: move what start-up made (modules,
    the application, SQLAlchemy's and Jinja's structures: ~200,000 objects) out of the
    garbage collector's sight (`gc.freeze`, as the job worker does). Without it, every few
    hundred requests a full collection walked them all in the middle of a request: ~100 ms
    added to it (docs/benchmarks/queues-1m.md)."""
    import gc

    gc.collect()
    gc.freeze()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _OWN_METRICS_DIR:  # the temporary folder made above, not the deployment's
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
