"""Two actors on the same candidature at once: one wins, the other gets a clear conflict,
nothing is half-applied. Real concurrent HTTP requests against a threaded server, on
each backend; the candidature's row is held locked while both requests start, so they
really overlap."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from werkzeug.serving import make_server

from backoffice import create_app
from backoffice.db import db
from backoffice.models import AuditEvent, Candidature, Message
from backoffice.seed import ensure_delay_rules, new_api_token
from backoffice.workflow import forms
from backoffice.workflow.base import Industriel
from backoffice.workflow.candidatures import ouvrir
from backoffice.workflow.referentiels import load_json
from backoffice.workflow.scenarios import Driver
from tests.api.conftest import REFERENTIEL
from tests.conftest import BACKENDS, base_config, fresh_database_url
from tests.factories import OrganisationFactory, ProductFactory, TeamFactory, UserFactory


@pytest.fixture(params=BACKENDS)
def server(request, tmp_path):
    url = fresh_database_url(request.param, tmp_path, "concurrency")
    app = create_app({**base_config(tmp_path, url), "JOBS_RAISE": False})
    with app.app_context():
        from backoffice.seed import ensure_demarches

        ensure_demarches()
        load_json(REFERENTIEL)
        ensure_delay_rules()
        organisation = OrganisationFactory()
        token, raw = new_api_token(organisation, "portail")
        db.add(token)
        verif = UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")])
        industriel = Industriel(organisation)
        candidature = ouvrir(ProductFactory(organisation=organisation), "dmn_nom_de_marque",
                             actor=industriel)

        def file_factory(c, name):
            from tests.factories import fichier_for

            return fichier_for(c, name)

        Driver(industriel, verif, None, file_factory).fill(candidature, "recevabilite")
        reference = candidature.reference
        db.commit()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{httpd.server_port}", raw, reference, url, request.param
    httpd.shutdown()
    app.extensions["db_engine"].dispose()


class RowLock:
    """Hold the candidature's row (PostgreSQL) or the database (SQLite) while both
    requests start."""

    def __init__(self, backend: str, url: str, reference: str) -> None:
        self.backend, self.url, self.reference = backend, url, reference

    def __enter__(self) -> RowLock:
        if self.backend == "postgresql":
            self.engine = create_engine(self.url)
            self.conn = self.engine.connect()
            self.tx = self.conn.begin()
            self.conn.execute(text("SELECT id FROM candidature WHERE reference = :r FOR UPDATE"),
                              {"r": self.reference})
        else:
            self.raw = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self.raw.execute("BEGIN IMMEDIATE")
        return self

    def release(self) -> None:
        if self.backend == "postgresql":
            self.tx.rollback()
            self.conn.close()
            self.engine.dispose()
        else:
            self.raw.execute("ROLLBACK")
            self.raw.close()

    def __exit__(self, *exc: object) -> None:
        pass


def test_two_concurrent_submissions_one_wins(server) -> None:
    app, base, token, reference, url, backend = server
    headers = {"Authorization": f"Bearer {token}"}
    submit = f"{base}/api/v1/candidatures/{reference}/steps/recevabilite/submit"
    lock = RowLock(backend, url, reference).__enter__()
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(requests.post, submit, headers=headers, timeout=30)
                   for _ in range(2)]
        time.sleep(0.5)  # both requests are now inside the server, waiting on the lock
        assert not any(f.done() for f in futures)
        lock.release()
        responses = [f.result() for f in futures]
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["code"] in {"invalid_status", "conflict"}
    assert "Rechargez" in loser["message"] or "réessayez" in loser["message"]
    with app.app_context():
        candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
        assert candidature.step("recevabilite").status == "soumise"
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "recevabilite.soumettre")) == 1
        assert db.scalar(select(func.count()).select_from(Message).where(
            Message.event == "form.soumise")) == 1


def test_two_verificateurs_take_the_same_dossier(server) -> None:
    """The workflow level: two sessions in two threads, the second loses cleanly."""
    app, base, token, reference, url, backend = server
    headers = {"Authorization": f"Bearer {token}"}
    requests.post(f"{base}/api/v1/candidatures/{reference}/steps/recevabilite/submit",
                  headers=headers, timeout=30).raise_for_status()
    with app.app_context():
        team = TeamFactory(parcours="dmn")
        ids = [UserFactory(roles=["verificateur"], teams=[team]).id for _ in range(2)]
        db.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def take(user_id: int) -> None:
        from backoffice.models import User
        from backoffice.workflow.base import TransitionError, load_for_update

        with app.app_context():
            barrier.wait()
            try:
                candidature = load_for_update(reference)
                forms.prendre(candidature, "recevabilite", actor=db.get(User, user_id))
                time.sleep(0.2)  # hold the lock while the other one arrives
                db.commit()
                outcomes.append("won")
            except TransitionError as error:
                db.rollback()
                outcomes.append(error.code)
            except Exception as error:
                db.rollback()
                outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=take, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes)[-1] == "won" and outcomes.count("won") == 1, outcomes
    with app.app_context():
        candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
        step = candidature.step("recevabilite")
        assert step.status == "en_instruction" and step.assignee_id in ids
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "recevabilite.prendre")) == 1
