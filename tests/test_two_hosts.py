"""Two hosts (issue 14): two application instances — two gunicorn processes, each with
its own instance folder — and a job worker beside each, sharing one PostgreSQL database,
one Redis, one storage folder and the secrets (session, TOTP encryption, signing), all
from the environment, as docs/operations.md ("Two hosts") says. Over real HTTP:

- an agent signs in (password and second factor) on either host, and a session opened on
  one is valid on the other;
- a file the vendor uploads through one host's intake API downloads through the other;
- a certificate is issued once although both hosts' workers race for it;
- each periodic job runs once per period.

Needs the PostgreSQL and Redis tiers (CI runs it; locally it skips without them)."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from backoffice import create_app
from backoffice.auth.totp import STEP_SECONDS, current_code
from backoffice.db import db
from backoffice.models import AuditEvent, Candidature, Certificat, Organisation, User
from backoffice.seed import ensure_delay_rules, ensure_demarches, new_api_token
from backoffice.tasks import enqueue
from backoffice.workflow.base import Industriel
from backoffice.workflow.referentiels import load_json
from backoffice.workflow.scenarios import Driver
from jobs import periodiques
from tests.conftest import TEST_DATABASE_URL, base_config, fresh_database_url, missing_tier
from tests.factories import (
    PASSWORD,
    OrganisationFactory,
    ProductFactory,
    TeamFactory,
    UserFactory,
    fichier_for,
)
from tests.helpers import WORKER
from tests.test_issuance_crash import _free_port
from tests.test_periodic_jobs import EVERY_JOB_FAST, redis_or_skip

pytestmark = [pytest.mark.postgresql, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = [sys.executable, "-m", "gunicorn"]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + secrets.token_bytes(64)
PRODUCT = {"name": "Careoptim", "version": "v0.1", "type": "socle", "nil": "NIL-0001",
           "responsable": "Jeanne Martin", "description": "Télésurveillance",
           "certifications": [],
           "qualification": {"q1": "oui", "q2": "non", "q3": "oui", "q4": "non", "q5": "oui"}}


class Hosts:
    """The shared services and secrets, and what runs on each host."""

    def __init__(self, tmp: Path, url: str, redis_url: str) -> None:
        self.tmp, self.url, self.redis_url = tmp, url, redis_url
        self.shared = tmp / "partage"  # the shared filesystem
        self.secrets = {"SECRET_KEY": secrets.token_urlsafe(48),
                        "TOTP_ENCRYPTION_KEY": secrets.token_urlsafe(48),
                        # one audit chain: a key per host would break it at every switch
                        "AUDIT_HMAC_KEY": secrets.token_urlsafe(48),
                        **{k: str(v) for k, v in base_config(tmp, url).items()
                           if k.startswith("SIGNING_")}}
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def env(self, host: str) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith(("MAIL_", "CLAMD_", "SIGNING_"))}
        return {**environ, **self.secrets,
                "DATABASE_URL": self.url, "REDIS_URL": self.redis_url,
                "STORAGE_DIR": str(self.shared / "storage"),
                "MAIL_OUTBOX_DIR": str(self.shared / "mails"),
                "INSTANCE_DIR": str(self.tmp / host / "instance"),  # per host
                "PUBLIC_BASE_URL": "https://convergence.example",
                "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "4",
                "PERIODIC_JOBS": EVERY_JOB_FAST}

    def config(self) -> dict[str, object]:
        """The test's own view of the deployment (same database, Redis and secrets)."""
        return {**base_config(self.tmp, self.url), **self.secrets,
                "REDIS_URL": self.redis_url, "STORAGE_DIR": str(self.shared / "storage")}

    def web(self, host: str) -> str:
        port = _free_port()
        self.spawn(host, [*GUNICORN, "--config", str(ROOT / "gunicorn.conf.py"), "--bind",
                          f"127.0.0.1:{port}", "backoffice:create_app()"])
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{base}/sante", timeout=10).status_code == 200:
                    return base
            except requests.RequestException:  # not listening yet, or busy starting
                pass
            assert self.processes[-1].poll() is None, self.logs[-1].read_text()
            assert time.monotonic() < deadline, f"{host} did not start"
            time.sleep(0.3)

    def worker(self, host: str) -> subprocess.Popen:
        return self.spawn(host, WORKER)

    def spawn(self, host: str, command: list[str]) -> subprocess.Popen:
        """stderr goes to a file: a pipe nobody reads fills up (64 kB of INFO lines) and
        blocks the process on its next log line."""
        log = self.tmp / f"{host}-{len(self.logs)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=self.env(host),
                                       stdout=subprocess.DEVNULL, stderr=out)
        self.processes.append(process)
        self.logs.append(log)
        return process

    def stop(self) -> str:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return "\n".join(log.read_text(errors="replace") for log in self.logs)


@pytest.fixture
def hosts(tmp_path):
    if not TEST_DATABASE_URL:
        missing_tier("TEST_DATABASE_URL is not set (PostgreSQL tier)")
    redis = redis_or_skip()
    from tests.conftest import TEST_REDIS_URL

    deployment = Hosts(tmp_path, fresh_database_url("postgresql", tmp_path, "twohosts"),
                       TEST_REDIS_URL)
    yield deployment
    deployment.stop()
    redis.flushdb()


def _csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=30).text
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _sign_in(base: str, email: str, totp_secret: str, counter: int) -> requests.Session:
    """Password, then the code of TOTP step `counter` (single-use: one per sign-in)."""
    session = requests.Session()
    response = session.post(f"{base}/connexion", allow_redirects=False, timeout=30, data={
        "email": email, "password": PASSWORD, "csrf_token": _csrf(session, f"{base}/connexion")})
    assert response.status_code == 302 and response.headers["Location"] == "/connexion/code", \
        response.text[:500]
    response = session.post(f"{base}/connexion/code", allow_redirects=False, timeout=30, data={
        "code": current_code(totp_secret, at=counter * STEP_SECONDS),
        "csrf_token": _csrf(session, f"{base}/connexion/code")})
    assert response.status_code == 302 and "/connexion" not in response.headers["Location"], \
        response.text[:500]
    return session


@pytest.mark.parametrize("backend", ["postgresql"])  # named in the test id: CI counts it
def test_two_hosts_share_sign_in_files_certificates_and_periodic_jobs(hosts, backend) -> None:
    # --- the data an administrator would have created (CLI, admin) ---------------------
    app = create_app(hosts.config())
    with app.app_context():
        ensure_demarches()
        load_json(ROOT / "data" / "referentiel.json")
        ensure_delay_rules()
        organisation = OrganisationFactory()
        token, raw_token = new_api_token(organisation, "portail")
        db.add(token)
        verificateur = UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")])
        college = UserFactory(roles=["college"])
        db.commit()
        email, totp_secret = verificateur.email, verificateur.totp_plain_secret
        ids = {"organisation": organisation.id, "verificateur": verificateur.id,
               "college": college.id}

    host_a, host_b = hosts.web("hote-a"), hosts.web("hote-b")

    # --- signing in on either host --------------------------------------------------------
    now = int(time.time()) // STEP_SECONDS
    on_a = _sign_in(host_a, email, totp_secret, now - 1)
    on_b = _sign_in(host_b, email, totp_secret, now)
    for session, base in ((on_a, host_a), (on_b, host_b), (on_a, host_b), (on_b, host_a)):
        page = session.get(f"{base}/instruction/", allow_redirects=False, timeout=30)
        assert page.status_code == 200, (base, page.status_code)
    # the code used on one host is spent on the other too (one database)
    replay = requests.Session()
    replay.post(f"{host_b}/connexion", timeout=30, data={
        "email": email, "password": PASSWORD, "csrf_token": _csrf(replay, f"{host_b}/connexion")})
    refused = replay.post(f"{host_b}/connexion/code", allow_redirects=False, timeout=30, data={
        "code": current_code(totp_secret, at=now * STEP_SECONDS),
        "csrf_token": _csrf(replay, f"{host_b}/connexion/code")})
    assert refused.status_code != 302 or "/connexion" in refused.headers["Location"]

    # --- a file uploaded through host A, downloaded through host B ------------------------
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {raw_token}"
    product = api.post(f"{host_a}/api/v1/products", json=PRODUCT, timeout=30)
    assert product.status_code == 201, product.text
    opened = api.post(f"{host_a}/api/v1/candidatures", timeout=30, json={
        "product_id": product.json()["id"], "demarche": "dmn_nom_de_marque"})
    assert opened.status_code == 201, opened.text
    reference = opened.json()["reference"]
    uploaded = api.post(f"{host_a}/api/v1/candidatures/{reference}/pieces", timeout=60,
                        data={"type": "documentation_fonctionnelle", "step": "recevabilite"},
                        files={"file": ("documentation.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    fichier_id = uploaded.json()["file"]["id"]
    download = on_b.get(f"{host_b}/instruction/fichiers/{fichier_id}", timeout=60)
    assert download.status_code == 200 and download.content == PDF
    assert "documentation.pdf" in download.headers["Content-Disposition"]
    # and the vendor reads it back through host B
    mine = api.get(f"{host_b}/api/v1/candidatures/{reference}", timeout=30)
    assert mine.status_code == 200 and mine.json()["reference"] == reference

    # --- a favourable decision, then a worker on each host: one certificate ----------------
    with app.app_context():
        organisation = db.get(Organisation, ids["organisation"])
        driver = Driver(Industriel(organisation), db.get(User, ids["verificateur"]),
                        db.get(User, ids["college"]), fichier_for)
        candidature = driver.open(ProductFactory(organisation=organisation), "dmn_pecan")
        driver.drive(candidature, "certificat")  # the collège's favourable decision
        candidature_id = candidature.id
        db.commit()  # the issuance job goes to Redis
        enqueue("certificats.emettre", candidature_id)  # and again: both workers may race
    workers = [hosts.worker("hote-a"), hosts.worker("hote-b")]

    def issued() -> int:
        with app.app_context():
            return db.scalar(select(func.count()).select_from(Certificat).where(
                Certificat.candidature_id == candidature_id,
                Certificat.fichier_id.is_not(None)))

    def runs(name: str) -> list[dict]:
        return periodiques.history(app_redis, name)

    from redis import Redis

    app_redis = Redis.from_url(hosts.redis_url)
    deadline = time.monotonic() + 180
    while not (issued() and all(len(runs(p.name)) >= 3 for p in periodiques.PERIODIQUES)):
        assert all(w.poll() is None for w in workers), hosts.stop()
        assert time.monotonic() < deadline, "timed out: " + hosts.stop()[-3000:]
        time.sleep(0.3)
    time.sleep(2 * 2)  # a straggling duplicate would land meanwhile
    with app.app_context():
        candidature = db.get(Candidature, candidature_id)
        assert candidature.status == "certifiee" and candidature.current.status == "emis"
        assert db.scalar(select(func.count()).select_from(Certificat).where(
            Certificat.candidature_id == candidature_id)) == 1
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "certificat.emis")) == 1
        document = db.scalar(select(Certificat).where(
            Certificat.candidature_id == candidature_id)).fichier_id
    # the certificate, written by one host's worker, opens through the other host
    pdf = on_a.get(f"{host_a}/instruction/fichiers/{document}", timeout=60)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # --- each periodic job once per period ---------------------------------------------------
    for periodique in periodiques.PERIODIQUES:
        slots = [run["slot"] for run in runs(periodique.name)]
        assert len(slots) == len(set(slots)), f"{periodique.name} ran twice in a slot: {slots}"
