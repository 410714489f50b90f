"""Prometheus /metrics (issue 14, item 7): who may read it, request latency per route (the
endpoint, never the raw path), queue depths, job outbox and e-mail backlogs, failed jobs,
certificates issued — on both database tiers; RQ's registries on the Redis tier. Summing
the gunicorn workers (multiprocess mode) is checked on a real gunicorn in
tests/deploy/test_behind_nginx.py."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from backoffice.db import utcnow
from backoffice.models import Certificat, JobOutbox, OutboxMail
from tests.conftest import TEST_REDIS_URL, missing_tier
from tests.factories import CandidatureFactory, FichierFactory

TOKEN = secrets.token_urlsafe(32)


@pytest.fixture
def scrape(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        samples = {}
        for family in text_string_to_metric_families(response.get_data(as_text=True)):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    return scrape


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- access ----------------------------------------------------------------------------------

def test_metrics_are_hidden_until_configured(app, client, ctx) -> None:
    assert not app.config.get("METRICS_TOKEN") and not app.config.get("METRICS_ALLOWED_NETWORKS")
    assert client.get("/metrics").status_code == 404


def test_a_token_opens_the_metrics(app, client, ctx, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"}
                      ).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}
                      ).status_code == 403
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert b"backoffice_http_request_duration_seconds" in response.data


def test_a_network_opens_the_metrics(app, client, ctx, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "METRICS_ALLOWED_NETWORKS", "10.20.0.0/16, 2001:db8::/32")
    for address, status in (("10.20.3.4", 200), ("10.21.0.1", 403), ("2001:db8::7", 200),
                            ("127.0.0.1", 403)):
        response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
        assert response.status_code == status, address


# --- per request -----------------------------------------------------------------------------

def test_latency_is_counted_per_route_never_per_path(client, ctx, scrape) -> None:
    before = scrape()
    client.get("/connexion")
    client.get("/connexion")
    client.get("/verify/ANS-DMN-2026-424242")
    client.get("/chemin/inconnu-QWERTY")
    after = scrape()
    count = "backoffice_http_request_duration_seconds_count"
    assert value(after, count, route="auth.login", method="GET") \
        - value(before, count, route="auth.login", method="GET") == 2
    assert value(after, "backoffice_http_requests_total", route="auth.login", method="GET",
                 status="200") - value(before, "backoffice_http_requests_total",
                                       route="auth.login", method="GET", status="200") == 2
    assert value(after, count, route="unmatched", method="GET") \
        - value(before, count, route="unmatched", method="GET") == 1
    routes = {dict(labels).get("route") for _name, labels in after}
    assert not any("424242" in (r or "") or "QWERTY" in (r or "") for r in routes)
    assert all(r is None or r == "unmatched" or "/" not in r for r in routes)
    # the histogram's buckets: a page well under a second lands in the 1 s bucket
    assert value(after, "backoffice_http_request_duration_seconds_bucket", route="auth.login",
                 method="GET", le="1.0") >= 2


# --- read from the database --------------------------------------------------------------------

def test_queue_depths_per_demarche_and_step(ctx, scrape) -> None:
    before = scrape()
    for _ in range(3):
        CandidatureFactory(demarche_code="sons_sas", at="eligibilite")
    CandidatureFactory(demarche_code="dmn_nom_de_marque", at="recevabilite")
    CandidatureFactory(demarche_code="dmn_nom_de_marque", at="recevabilite",
                       status_at_step="complements_demandes")
    ctx.commit()
    after = scrape()

    def delta(name: str, demarche: str, step: str) -> float:
        return value(after, name, demarche=demarche, step=step) - value(
            before, name, demarche=demarche, step=step)

    assert delta("backoffice_queue_open", "sons_sas", "eligibilite") == 3
    assert delta("backoffice_queue_open", "dmn_nom_de_marque", "recevabilite") == 2
    assert delta("backoffice_queue_waiting_on_vendor", "dmn_nom_de_marque", "recevabilite") == 1
    assert delta("backoffice_queue_unassigned", "sons_sas", "eligibilite") == 3


def test_outbox_and_mail_backlogs(ctx, scrape) -> None:
    before = scrape()
    now = utcnow()
    ctx.add_all([JobOutbox(job_name="notifications.envoyer", args=[1],
                           created_at=now - timedelta(minutes=10)),
                 JobOutbox(job_name="notifications.envoyer", args=[2]),
                 JobOutbox(job_name="notifications.envoyer", args=[3], enqueued_at=now)])
    ctx.add_all([OutboxMail(recipient=f"r{n}@ans.test.fr", subject="s", body="b",
                            next_attempt_at=now - timedelta(minutes=5)) for n in range(3)])
    ctx.add(OutboxMail(recipient="x@ans.test.fr", subject="s", body="b", status="echec"))
    ctx.commit()
    after = scrape()
    assert value(after, "backoffice_job_outbox_pending") \
        - value(before, "backoffice_job_outbox_pending") == 2
    assert value(after, "backoffice_job_outbox_oldest_seconds") >= 600
    assert value(after, "backoffice_mail_outbox", status="a_envoyer") \
        - value(before, "backoffice_mail_outbox", status="a_envoyer") == 3
    assert value(after, "backoffice_mail_outbox", status="echec") \
        - value(before, "backoffice_mail_outbox", status="echec") == 1
    assert value(after, "backoffice_mail_outbox_oldest_due_seconds") >= 300


def test_certificates_issued_is_a_counter_read_from_the_database(ctx, scrape) -> None:
    before = scrape()
    for n, signed in enumerate((True, True, False)):
        candidature = CandidatureFactory()
        fichier = FichierFactory(candidature_id=candidature.id) if signed else None
        ctx.add(Certificat(candidature_id=candidature.id, kind="certificat",
                           number=f"ANS-DMN-TEST-{n}-{secrets.token_hex(3)}",
                           fichier_id=fichier.id if fichier else None, product_label="p",
                           organisation_name="o", referentiel_label="r"))
    ctx.commit()
    after = scrape()
    name = "backoffice_certificates_issued_total"
    assert value(after, name, kind="certificat") - value(before, name, kind="certificat") == 2


def test_jobs_part_missing_when_redis_is_down_and_the_scrape_still_answers(
        app, ctx, scrape, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:9/0")
    app.extensions.pop("metrics_redis", None)
    try:
        samples = scrape()
    finally:
        app.extensions.pop("metrics_redis", None)
    assert value(samples, "backoffice_metrics_part_up", part="jobs") == 0
    for part in ("queues", "backlogs", "certificates"):
        assert value(samples, "backoffice_metrics_part_up", part=part) == 1


@pytest.mark.redis
def test_failed_and_waiting_jobs_per_queue_from_rq(app, ctx, scrape, monkeypatch) -> None:
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set (Redis tier)")
    from redis import Redis
    from rq import Queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    monkeypatch.setitem(app.config, "REDIS_URL", TEST_REDIS_URL)
    app.extensions.pop("metrics_redis", None)
    try:
        failed = Job.create(func="os.getcwd", connection=redis, origin="notifications")
        failed.save()
        FailedJobRegistry("notifications", connection=redis).add(failed, ttl=600,
                                                                 exc_string="boum")
        Queue("certificats", connection=redis).enqueue("os.getcwd")
        Queue("certificats", connection=redis).enqueue("os.getcwd")
        samples = scrape()
    finally:
        app.extensions.pop("metrics_redis", None)
        redis.flushdb()
    assert value(samples, "backoffice_metrics_part_up", part="jobs") == 1
    assert value(samples, "backoffice_jobs_failed", queue="notifications") == 1
    assert value(samples, "backoffice_jobs_failed", queue="certificats") == 0
    assert value(samples, "backoffice_jobs_queued", queue="certificats") == 2
