"""Redis down: pages are still served, the vérificateur's action commits, its job waits in
the outbox; once Redis is back `flask pousser-taches` sends it and a real worker runs it.
A database constraint error answers with a French message and leaves nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backoffice import create_app
from backoffice.db import db
from backoffice.models import JobOutbox, Message, OutboxMail
from backoffice.seed import ensure_delay_rules
from backoffice.workflow.base import Industriel
from backoffice.workflow.referentiels import load_json
from backoffice.workflow.scenarios import Driver
from tests.conftest import (
    BACKENDS,
    TEST_REDIS_URL,
    IsolatedClient,
    base_config,
    fresh_database_url,
    missing_tier,
)
from tests.factories import (
    OrganisationFactory,
    ProductFactory,
    TeamFactory,
    UserFactory,
    fichier_for,
)
from tests.helpers import WORKER, csrf_token, login
from tests.test_issuance_crash import _free_port, _start_redis

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.redis
@pytest.mark.parametrize("backend", BACKENDS)
def test_redis_down_pages_served_jobs_kept_then_sent(backend, tmp_path) -> None:
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set (Redis tier)")
    if not shutil.which("redis-server"):
        missing_tier("redis-server is not installed")
    port = _free_port()  # nothing listens there yet: Redis is down
    redis_url = f"redis://127.0.0.1:{port}/0"
    url = fresh_database_url(backend, tmp_path, "redisdown")
    config = {**base_config(tmp_path, url), "REDIS_URL": redis_url}
    app = create_app(config)
    redis = None
    try:
        with app.app_context():
            from backoffice.seed import ensure_demarches

            ensure_demarches()
            load_json(ROOT / "data" / "referentiel.json")
            ensure_delay_rules()
            me = UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")])
            organisation = OrganisationFactory()
            driver = Driver(Industriel(organisation), me, None, fichier_for)
            candidature = driver.open(ProductFactory(organisation=organisation),
                                      "dmn_nom_de_marque")
            driver.drive(candidature, "recevabilite")
            candidature.contact_email, candidature.email_opt_in = "qualite@editeur.fr", True
            db.commit()
            db.execute(JobOutbox.__table__.delete())  # the set-up's own jobs are not the point
            db.commit()
            reference = candidature.reference

            app.test_client_class = IsolatedClient
            client = app.test_client()
            login(client, me)  # login works: throttling falls back to memory
            base = f"/instruction/candidatures/{reference}"
            for path in ("/instruction/", "/instruction/file", base):
                assert client.get(path).status_code == 200, path
            response = client.post(f"{base}/messages", data={
                "body": "Merci de compléter le dossier.", "kind": "message",
                "csrf_token": csrf_token(client, base)})
            assert response.status_code == 302
            db.remove()
            message = db.scalar(select(Message).where(Message.body.like("Merci de compléter%")))
            assert message is not None  # the change committed
            mail = db.scalar(select(OutboxMail).where(OutboxMail.message_id == message.id))
            assert mail.status == "a_envoyer"
            kept = db.scalars(select(JobOutbox)).all()
            assert [(j.job_name, j.args, j.enqueued_at is None) for j in kept] == [
                ("notifications.envoyer", [mail.id], True)]
            assert kept[0].attempts == 1 and "Connection" in kept[0].last_error
            db.remove()

            redis = _start_redis(port)  # Redis is back
            env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url,
                   "INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "redis-down",
                   "MAIL_OUTBOX_DIR": str(tmp_path / "mails")}
            pushed = subprocess.run([sys.executable, "-m", "flask", "--app", "backoffice",
                                     "pousser-taches"], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=120)
            assert pushed.returncode == 0, pushed.stderr
            assert "1 tâche(s) envoyée(s) ; 0 en attente." in pushed.stdout
            worker = subprocess.run([*WORKER, "--burst"], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=120)
            assert worker.returncode == 0, worker.stderr
            db.remove()
            assert db.get(OutboxMail, mail.id).status == "envoye"
            assert list((tmp_path / "mails").iterdir())  # the mail went out
            assert db.scalar(select(func.count()).select_from(JobOutbox)
                             .where(JobOutbox.enqueued_at.is_(None))) == 0
    finally:
        if redis is not None:
            redis.kill()
        app.extensions["db_engine"].dispose()
