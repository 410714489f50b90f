"""One unit of work per request (backoffice/unitofwork.py): a request that may write
commits once, after a successful answer, and rolls back on a refusal or an error; the
bytes of an upload are kept by that commit and deleted otherwise, with no view saying so
by hand; work hung on the commit (jobs) runs only if it happens. On a fresh database of
each tier, with views of the test's own."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import abort
from sqlalchemy import func, select

from backoffice import create_app, uploads
from backoffice.db import commit_record, db
from backoffice.models import Fichier, Team
from backoffice.tasks import after_commit
from backoffice.workflow.base import TransitionError
from jobs import checkpoint, job
from tests.conftest import base_config, fresh_database_url
from tests.factories import CandidatureFactory

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
RAN: list[str] = []


@pytest.fixture
def uow(backend, tmp_path):
    app = create_app({**base_config(tmp_path, fresh_database_url(backend, tmp_path, "uow")),
                      "WTF_CSRF_ENABLED": False, "LOGIN_DISABLED": True})

    def _team(name: str) -> None:
        db.add(Team(name=name, parcours="dmn"))
        db.flush()
        after_commit(RAN.append, name)

    def _store() -> Fichier:
        from flask import request

        candidature_id = int(request.args["c"])
        return uploads.store(db.get(CandidatureFactory._meta.model, candidature_id),
                             request.files["file"], "piece")

    @app.post("/_t/equipe/<name>")
    @uploads.accepts_upload("piece")
    def create_team(name: str):
        _team(name)
        return {"ok": True}, 201

    @app.post("/_t/refus/<name>")
    def refused(name: str):
        _team(name)
        return {"code": "invalid_input"}, 422

    @app.post("/_t/refus-metier/<name>")
    def domain_refusal(name: str):
        _team(name)
        raise TransitionError("invalid_status", "Cette action n'est plus possible.")

    @app.post("/_t/interdit/<name>")
    def forbidden(name: str):
        _team(name)
        abort(403)

    @app.get("/_t/lecture/<name>")
    def read_that_writes(name: str):
        _team(name)
        return {"ok": True}

    @app.get("/_t/lecture-enregistree/<name>")
    def read_that_records(name: str):
        commit_record(lambda: _team(name))  # what a GET records on purpose
        _team(f"{name} (la page)")  # the rest of the page's writes: rolled back
        abort(404)  # whatever the rest of the page does

    @app.post("/_t/refus-enregistre/<name>")
    def refusal_that_records(name: str):
        commit_record(lambda: _team(name))  # a POST: joins its unit of work
        return {"code": "invalid_input"}, 422

    @app.post("/_t/depot")
    @uploads.accepts_upload("piece")
    def upload_ok():
        return {"id": _store().id}, 201

    @app.post("/_t/depot-puis-erreur")
    @uploads.accepts_upload("piece")
    def upload_then_error():
        _store()
        raise TransitionError("not_allowed", "Refusé après l'enregistrement du fichier.")

    @app.post("/_t/depot-puis-conflit")
    @uploads.accepts_upload("piece")
    def upload_then_conflict():
        fichier = _store()
        # a duplicate storage key: refused by the database at the unit of work's commit
        db.add(Fichier(candidature_id=fichier.candidature_id, storage_key=fichier.storage_key,
                       original_name="x", size=1, sha256="0" * 64, kind="pdf",
                       content_type="application/pdf"))
        return {"ok": True}, 201

    with app.app_context():
        candidature_id = CandidatureFactory(demarche_code="dmn_nom_de_marque",
                                            at="recevabilite").id
        db.commit()
    app.config["CANDIDATURE_ID"] = candidature_id
    RAN.clear()
    yield app
    app.extensions["db_engine"].dispose()


def _teams(app) -> set[str]:
    with app.app_context():
        return set(db.scalars(select(Team.name)).all())


def _stored(app) -> set[Path]:
    root = Path(app.config["STORAGE_DIR"])
    return {p for p in root.rglob("*") if p.is_file() and ".incoming" not in p.parts} \
        if root.exists() else set()


def _files(app) -> int:
    with app.app_context():
        return db.scalar(select(func.count()).select_from(Fichier))


def test_a_write_request_commits_once_after_success_only(uow) -> None:
    client = uow.test_client()
    assert client.post("/_t/equipe/Gardée").status_code == 201
    assert client.post("/_t/refus/Refusée").status_code == 422
    refused = client.post("/_t/refus-metier/Métier")
    assert refused.status_code == 409 and "plus possible" in refused.get_data(as_text=True)
    assert client.post("/_t/interdit/Interdite").status_code == 403
    assert client.get("/_t/lecture/Lue").status_code == 200  # a GET never commits
    assert _teams(uow) == {"Gardée"}
    assert RAN == ["Gardée"]  # what hangs on the commit ran only where it happened


def test_an_upload_kept_by_the_commit_without_committed(uow) -> None:
    client = uow.test_client()
    response = client.post(f"/_t/depot?c={uow.config['CANDIDATURE_ID']}",
                           data={"file": (io.BytesIO(PDF), "annexe.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 201
    assert _files(uow) == 1 and len(_stored(uow)) == 1
    with uow.app_context():
        fichier = db.get(Fichier, response.json["id"])
        assert uploads.storage().path(fichier.storage_key).read_bytes() == PDF


@pytest.mark.parametrize("path", ["/_t/depot-puis-erreur", "/_t/depot-puis-conflit"])
def test_an_upload_view_that_fails_after_storing_leaves_no_bytes(uow, path) -> None:
    client = uow.test_client()
    response = client.post(f"{path}?c={uow.config['CANDIDATURE_ID']}",
                           data={"file": (io.BytesIO(PDF), "annexe.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 409  # a French page, never a 500
    assert "Traceback" not in response.get_data(as_text=True)
    assert _files(uow) == 0 and _stored(uow) == set()


def test_a_get_commits_only_what_it_records_on_purpose(uow) -> None:
    client = uow.test_client()
    assert client.get("/_t/lecture-enregistree/Ouverture").status_code == 404
    assert client.post("/_t/refus-enregistre/Refus").status_code == 422
    assert _teams(uow) == {"Ouverture"}
    assert RAN == ["Ouverture"]


class Boom(Exception):
    pass


@job(retries=0)
def _job_that_returns(name: str) -> str:
    db.add(Team(name=name, parcours="dmn"))
    return name


@job(retries=0)
def _job_that_raises(name: str) -> None:
    db.add(Team(name=name, parcours="dmn"))
    db.flush()
    raise Boom(name)


@job(retries=0)
def _job_in_steps(first: str, then: str) -> None:
    db.add(Team(name=first, parcours="dmn"))
    checkpoint("the first team is kept whatever follows")
    db.add(Team(name=then, parcours="dmn"))
    db.flush()
    raise Boom(then)


def test_a_job_commits_once_when_it_returns_and_rolls_back_when_it_raises(uow) -> None:
    with uow.app_context():
        assert _job_that_returns("Rendue") == "Rendue"
        with pytest.raises(Boom):
            _job_that_raises("Levée")
        db.remove()
    assert _teams(uow) == {"Rendue"}


def test_a_job_commits_in_steps_only_through_checkpoint(uow) -> None:
    with uow.app_context():
        with pytest.raises(Boom):
            _job_in_steps("Étape", "Après l'étape")
        db.remove()
    assert _teams(uow) == {"Étape"}
