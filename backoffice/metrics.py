"""Prometheus metrics, served at /metrics (issue 14, item 7).

Two kinds:

- **Per request**, counted by each process: a latency histogram and a request counter per
  route (the endpoint's name, never the raw path: one series per view, not per dossier).
  Under gunicorn each worker process counts its own; prometheus-client's multiprocess mode
  adds them up at scrape time. It is on when PROMETHEUS_MULTIPROC_DIR is set *before* this
  module is imported: gunicorn.conf.py sets it in the master (a fresh folder unless the
  deployment gives one) and empties it at each start.
- **Read from the database and Redis at scrape time**, so that they are right whatever the
  number of hosts and processes: queue depths per démarche and step (the home page's
  grouped counts, kept in the queue cache until a candidature moves), the job outbox and
  e-mail backlogs, failed and waiting jobs per RQ queue, certificates issued. "Issued" is
  a counter kept by the database itself: a certificate row gets its signed PDF once and is
  never deleted (suspension and withdrawal change its status only).

Who may read it: METRICS_ALLOWED_NETWORKS (client addresses, after ProxyFix) or the bearer
token METRICS_TOKEN; neither configured: 404; configured but not matched: 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from backoffice.overload import SHED

log = logging.getLogger(__name__)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# registry=None: not registered anywhere at import; a scrape builds its own registry
REQUEST_SECONDS = Histogram(
    "backoffice_http_request_duration_seconds",
    "Time to answer a request, per route (Flask endpoint) and method.",
    ["route", "method"], buckets=BUCKETS, registry=None)
REQUESTS = Counter(
    "backoffice_http_requests", "Requests answered, per route, method and status.",
    ["route", "method", "status"], registry=None)


def route_label() -> str:
    if request.url_rule is None:
        return "unmatched"  # 404s: never the raw path (unbounded series)
    return request.endpoint or "unmatched"


def _observe(response: Response) -> Response:
    started = g.get("request_started")
    if started is not None:
        route, method = route_label(), request.method
        REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)
        REQUESTS.labels(route, method, str(response.status_code)).inc()
    return response


# --- read at scrape time -----------------------------------------------------------------

def _queue_metrics() -> Iterator[Metric]:
    from backoffice.db import db, utcnow
    from backoffice.models.queue_count import team_counts
    from backoffice.workflow.definitions import DEMARCHES

    # the same counts as the vérificateurs' home page, kept by the transactions
    # (models/queue_count.py): cheap at any volume
    rows = team_counts(db, tuple(sorted(DEMARCHES)), utcnow())
    families = {
        "open": GaugeMetricFamily("backoffice_queue_open",
                                  "Candidatures in progress, per démarche and current step.",
                                  labels=["demarche", "step"]),
        "unassigned": GaugeMetricFamily(
            "backoffice_queue_unassigned",
            "Of those, waiting for ANS with no vérificateur assigned.",
            labels=["demarche", "step"]),
        "vendor": GaugeMetricFamily("backoffice_queue_waiting_on_vendor",
                                    "Of those, waiting for the vendor.",
                                    labels=["demarche", "step"]),
        "overdue": GaugeMetricFamily("backoffice_queue_overdue",
                                     "Of those, past their step's due date.",
                                     labels=["demarche", "step"]),
    }
    for code, step, total, to_take, on_vendor, overdue in rows:
        labels = [code, step or ""]
        families["open"].add_metric(labels, total)
        families["unassigned"].add_metric(labels, to_take or 0)
        families["vendor"].add_metric(labels, on_vendor or 0)
        families["overdue"].add_metric(labels, overdue or 0)
    yield from families.values()


def _age_seconds(oldest: Any) -> float:
    from backoffice.db import utcnow

    return max((utcnow() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


def _backlog_metrics() -> Iterator[Metric]:
    from sqlalchemy import func, select

    from backoffice.db import db
    from backoffice.models import JobOutbox, OutboxMail
    from backoffice.models.messaging import OUTBOX_STATUSES

    count, oldest = db.execute(select(func.count(), func.min(JobOutbox.created_at))
                               .where(JobOutbox.enqueued_at.is_(None))).one()
    yield GaugeMetricFamily("backoffice_job_outbox_pending",
                            "Jobs written by a transaction, not yet pushed to Redis.", count)
    yield GaugeMetricFamily("backoffice_job_outbox_oldest_seconds",
                            "Age of the oldest job not yet pushed to Redis.",
                            _age_seconds(oldest))
    by_status = {status: count for status, count in db.execute(
        select(OutboxMail.status, func.count()).group_by(OutboxMail.status))}
    mails = GaugeMetricFamily("backoffice_mail_outbox", "E-mails of the outbox, per status.",
                              labels=["status"])
    for status in OUTBOX_STATUSES:
        mails.add_metric([status], by_status.get(status, 0))
    yield mails
    oldest_due = db.scalar(select(func.min(OutboxMail.next_attempt_at))
                           .where(OutboxMail.status == "a_envoyer"))
    yield GaugeMetricFamily("backoffice_mail_outbox_oldest_due_seconds",
                            "How long the oldest e-mail to send has been due.",
                            _age_seconds(oldest_due))


def _certificate_metrics() -> Iterator[Metric]:
    from sqlalchemy import func, select

    from backoffice.db import db
    from backoffice.models import Certificat

    issued = CounterMetricFamily("backoffice_certificates_issued",
                                 "Certificates and référencement attestations issued "
                                 "(signed PDF stored), per kind.", labels=["kind"])
    for kind, count in db.execute(select(Certificat.kind, func.count())
                                  .where(Certificat.fichier_id.is_not(None))
                                  .group_by(Certificat.kind)).all():
        issued.add_metric([kind], count)
    yield issued


def _redis():
    client = current_app.extensions.get("metrics_redis")
    if client is None:
        from redis import Redis

        client = Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=1,
                                socket_connect_timeout=1)
        current_app.extensions["metrics_redis"] = client
    return client


def _job_metrics() -> Iterator[Metric]:
    if not current_app.config.get("REDIS_URL"):
        return
    from rq import Queue
    from rq.registry import FailedJobRegistry

    from backoffice.tasks import all_queues

    connection = _redis()
    failed = GaugeMetricFamily("backoffice_jobs_failed",
                               "Jobs in RQ's failed registry, per queue.", labels=["queue"])
    waiting = GaugeMetricFamily("backoffice_jobs_queued", "Jobs waiting in RQ, per queue.",
                                labels=["queue"])
    for name in all_queues():
        failed.add_metric([name], FailedJobRegistry(name, connection=connection).count)
        waiting.add_metric([name], Queue(name, connection=connection).count)
    yield failed
    yield waiting


PARTS = {"queues": _queue_metrics, "backlogs": _backlog_metrics,
         "certificates": _certificate_metrics, "jobs": _job_metrics}


class ApplicationCollector:
    """What the database and Redis say, read in the scrape's request. A part that fails
    (Redis down) is left out and named in backoffice_metrics_part_up."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("backoffice_metrics_part_up",
                               "1 when this part of the metrics could be read.",
                               labels=["part"])
        for name, part in PARTS.items():
            try:
                families = list(part())
            except Exception as error:
                log.warning("metrics: %s unavailable: %s", name, error)
                from backoffice.db import db

                db.rollback()
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # every process's files, added up
    else:
        registry.register(REQUEST_SECONDS)
        registry.register(REQUESTS)
        registry.register(SHED)
    registry.register(ApplicationCollector())
    return generate_latest(registry)


# --- access ----------------------------------------------------------------------------------

def allowed_networks(config: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in str(config.get("METRICS_ALLOWED_NETWORKS") or "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                log.warning("METRICS_ALLOWED_NETWORKS: %r ignored (not a network)", item)
    return networks


def access() -> int | None:
    """None when the caller may read the metrics, else the status to answer."""
    config = current_app.config
    networks, token = allowed_networks(config), config.get("METRICS_TOKEN")
    if not networks and not token:
        return 404
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              str(token).encode()):
            return None
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return 403
    if any(address in network for network in networks):
        return None
    return 403


def response() -> Response:
    status = access()
    if status is not None:
        text = "Introuvable.\n" if status == 404 else "Accès refusé.\n"
        return Response(text, status, mimetype="text/plain")
    return Response(render(), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.after_request(_observe)
