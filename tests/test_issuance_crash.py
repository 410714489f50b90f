"""Issued exactly once, even when a worker is killed in the middle of issuance and Redis
restarts (losing its queue): the pending issuances are queued again and each dossier ends
with one certificate."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backoffice import create_app
from backoffice.db import db
from backoffice.models import Candidature, Certificat
from backoffice.seed import ensure_delay_rules
from backoffice.workflow.base import Industriel
from backoffice.workflow.referentiels import load_json
from backoffice.workflow.scenarios import Driver
from tests.conftest import BACKENDS, TEST_REDIS_URL, base_config, fresh_database_url, missing_tier
from tests.factories import (
    OrganisationFactory,
    ProductFactory,
    TeamFactory,
    UserFactory,
    fichier_for,
)
from tests.helpers import WORKER

ROOT = Path(__file__).resolve().parents[1]
DOSSIERS = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from redis import Redis

    for _ in range(100):
        try:
            Redis(port=port).ping()
            return process
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@pytest.mark.redis
@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_worker_and_restarted_redis_still_issue_once(backend, tmp_path) -> None:
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set (Redis tier)")
    if not shutil.which("redis-server"):
        missing_tier("redis-server is not installed")
    port = _free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis = _start_redis(port)
    url = fresh_database_url(backend, tmp_path, "crash")
    app = create_app({**base_config(tmp_path, url), "REDIS_URL": redis_url})
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url,
           "INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "crash-test",
           **{k: str(v) for k, v in base_config(tmp_path, url).items() if k.startswith("SIGN")}}
    worker_cmd = WORKER
    try:
        with app.app_context():
            from backoffice.seed import ensure_demarches

            ensure_demarches()
            load_json(ROOT / "data" / "referentiel.json")
            ensure_delay_rules()
            organisation = OrganisationFactory()
            driver = Driver(Industriel(organisation),
                            UserFactory(roles=["verificateur"],
                                        teams=[TeamFactory(parcours="dmn")]),
                            UserFactory(roles=["college"]), fichier_for)
            for _ in range(DOSSIERS):
                candidature = driver.open(ProductFactory(organisation=organisation), "dmn_pecan")
                driver.drive(candidature, "certificat")
            db.commit()  # the issuance jobs go to Redis
            worker = subprocess.Popen(worker_cmd, cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def issued() -> int:
                # read, then let go of the database (SQLite: no lock held while polling)
                count = db.scalar(select(func.count()).select_from(Certificat).where(
                    Certificat.fichier_id.is_not(None)))
                db.remove()
                return count

            deadline = time.monotonic() + 60
            while issued() == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            worker.send_signal(signal.SIGKILL)  # in the middle of the batch
            worker.wait(10)
            done_before = issued()
            assert 0 < done_before < DOSSIERS, "the kill must land mid-batch"
            redis.kill()  # the queue is lost with Redis (no persistence)
            redis.wait(10)
            redis = _start_redis(port)
            resumed = subprocess.run([sys.executable, "-m", "flask", "--app", "backoffice",
                                      "reprendre-emissions"], cwd=ROOT, env=env,
                                     capture_output=True, text=True, timeout=120)
            assert resumed.returncode == 0, resumed.stderr
            burst = subprocess.run([*worker_cmd, "--burst"], cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=300)
            assert burst.returncode == 0, burst.stderr
            db.remove()
            counts = db.execute(select(Certificat.candidature_id, func.count()).group_by(
                Certificat.candidature_id)).all()
            assert len(counts) == DOSSIERS and all(n == 1 for _, n in counts)
            statuses = db.scalars(select(Candidature.status)).all()
            assert statuses == ["certifiee"] * DOSSIERS
            assert db.scalar(select(func.count()).select_from(Certificat).where(
                Certificat.fichier_id.is_(None))) == 0
    finally:
        redis.kill()
        app.extensions["db_engine"].dispose()
