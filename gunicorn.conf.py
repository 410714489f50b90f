"""gunicorn's settings for the back-office: read by gunicorn when it starts from this
folder (`make serve-production`, the benchmarks); the command line overrides them.

Threaded workers (gthread): a browser keeps its connection open between two clicks
(HTTP keep-alive); a sync worker would either close it at each answer or sit idle on it,
unable to serve anyone else until the next click (measured in docs/benchmarks.md: 50
vérificateurs with think time, 4 sync workers, 49 requests/s with a p95 over one second).
A thread waiting on a connection or on PostgreSQL costs no CPU; one process per core and
a few threads each keep both cores busy."""

from __future__ import annotations

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count())
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# an idle keep-alive connection is closed after this many seconds
keepalive = 5
# a worker that stops answering its heartbeat for this long is restarted (large uploads
# run in a thread: the heartbeat goes on meanwhile)
timeout = 60
# the access log in the usual combined format, with the time taken (µs)
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'
