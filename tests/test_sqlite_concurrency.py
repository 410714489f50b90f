"""Embedded mode under concurrency (issue 18, item 9): SQLite in WAL mode with a busy
timeout, so that a page and an in-process job writing at once never give a 500. Before,
opening the Messagerie tab (a read, then the last-seen marker's write) while a job held
the write lock failed at once with « database is locked »: the read-to-write upgrade
cannot wait (rollback journal: deadlock; WAL: its snapshot went stale at the job's
commit). A real file database, real connections, two threads."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text, update

from backoffice import create_app
from backoffice.db import db, write_intent
from backoffice.models import Candidature, Message
from tests.conftest import IsolatedClient, base_config, fresh_database_url
from tests.factories import CandidatureFactory, TeamFactory, UserFactory
from tests.helpers import login

HOLD_SECONDS = 1.0


@pytest.fixture
def embedded(tmp_path):
    app = create_app({**base_config(tmp_path, fresh_database_url("sqlite", tmp_path, "wal")),
                      "PROPAGATE_EXCEPTIONS_IN_TESTS": False})
    yield app
    app.extensions["db_engine"].dispose()


def _dossier(app):
    with app.app_context():
        db().expire_on_commit = False  # the user is read after this context (login)
        verif = UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")])
        candidature = CandidatureFactory(demarche_code="dmn_nom_de_marque", at="recevabilite",
                                         status_at_step="soumise")
        db.add(Message(candidature_id=candidature.id, author_kind="industriel",
                       kind="message", subject="", body="Bonjour"))
        db.commit()
        found = (verif, verif.id, candidature.reference, candidature.id)
        db.expunge_all()
        db.remove()
    return found


def _job_holding_the_write_lock(app, candidature_id: int, started: threading.Event,
                                errors: list) -> None:
    """What an in-process job does (tasks._run_in_process): its own application context
    and session, a write, work that takes a while (signing), then the commit."""
    token = write_intent.set(True)
    try:
        with app.app_context():
            db.execute(update(Candidature).where(Candidature.id == candidature_id)
                       .values(last_activity_at=Candidature.last_activity_at))
            started.set()
            time.sleep(HOLD_SECONDS)
            db.commit()
            db.remove()
    except Exception as error:
        errors.append(error)
        started.set()
    finally:
        write_intent.reset(token)


def test_the_database_file_is_in_wal_mode_with_a_busy_timeout(embedded) -> None:
    with embedded.extensions["db_engine"].connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_a_page_that_writes_while_a_job_writes_waits_instead_of_failing(embedded) -> None:
    verif, verif_id, reference, candidature_id = _dossier(embedded)
    embedded.test_client_class = IsolatedClient
    client = embedded.test_client()
    with embedded.app_context():
        db.add(verif)  # back in a session: login reads its second-factor state
        login(client, verif)
        db.remove()
    started, errors = threading.Event(), []
    job = threading.Thread(target=_job_holding_the_write_lock,
                           args=(embedded, candidature_id, started, errors))
    job.start()
    assert started.wait(10)
    began = time.monotonic()
    page = client.get(f"/instruction/candidatures/{reference}?onglet=messagerie")
    job.join(15)
    assert errors == []
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    assert "Bonjour" in page.get_data(as_text=True)
    assert time.monotonic() - began < HOLD_SECONDS + 5  # it waited for the job, no longer
    with embedded.app_context():  # the marker was written after the job's commit
        from backoffice.models import MessageRead

        assert db.get(MessageRead, (verif_id, candidature_id)) is not None
