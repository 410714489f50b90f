"""A demo that tells the truth (issue 17, item 8): after `flask seed-demo` the
certificates of the candidatures placed at their last step are really issued (none stuck
« Émission en cours », several in /certificats), no job is left behind in the outbox,
every seeded zip is analysed (its entries matched to exigences), vendors have written in
the threads, products carry self-assessments and forms name the candidature's own vendor.
In the embedded mode (jobs in-process) on each database, and through Redis and a worker."""

from __future__ import annotations

import os
import subprocess

import pytest
from sqlalchemy import func, select

from backoffice import create_app
from backoffice.db import db
from backoffice.models import (
    Candidature,
    CandidatureStep,
    Certificat,
    JobOutbox,
    Message,
    Product,
    ProductEvaluation,
    StepForm,
    ZipPourAvis,
)
from backoffice.workflow import avis
from tests.conftest import BACKENDS, TEST_REDIS_URL, base_config, fresh_database_url, missing_tier
from tests.helpers import WORKER

SEEDED = 27  # one candidature per target of backoffice.seed.TARGETS


def _seed(app) -> None:
    result = app.test_cli_runner().invoke(args=["seed-demo", "--candidatures", str(SEEDED)])
    assert result.exit_code == 0, result.output


def _stuck_issuances() -> int:
    return db.scalar(select(func.count()).select_from(Candidature).join(
        CandidatureStep, (CandidatureStep.candidature_id == Candidature.id)
        & (CandidatureStep.step == Candidature.current_step))
        .where(CandidatureStep.status == "emission_en_cours"))


def _assert_demo_tells_the_truth(app) -> None:
    with app.app_context():
        assert _stuck_issuances() == 0
        assert db.scalar(select(func.count()).select_from(JobOutbox)
                         .where(JobOutbox.enqueued_at.is_(None))) == 0
        issued = db.scalars(select(Certificat).where(Certificat.fichier_id.is_not(None))).all()
        assert {c.kind for c in issued} == {"certificat", "referencement"}
        assert len(issued) >= 2
        assert all(c.numero_referencement for c in issued if c.kind == "referencement")
        assert set(db.scalars(select(Candidature.status).where(Candidature.id.in_(
            [c.candidature_id for c in issued])))) <= {"certifiee", "referencee"}

        uploads = db.scalars(select(ZipPourAvis).where(ZipPourAvis.superseded_at.is_(None)))
        uploads = list(uploads)
        assert uploads
        for upload in uploads:
            analysis = avis.analyse(db.get(Candidature, upload.candidature_id), upload)
            assert "ADM 1.1" in analysis.matched, upload.report
            assert [e["name"] for e in analysis.unmatched] == ["notes de version.txt"]

        assert db.scalar(select(func.count()).select_from(Message)
                         .where(Message.author_kind == "industriel")) >= 5
        products = db.scalar(select(func.count()).select_from(Product))
        evaluated = db.scalar(select(func.count(func.distinct(ProductEvaluation.product_id))))
        assert 0 < evaluated < products
        for form in db.scalars(select(StepForm)):
            candidature = db.get(Candidature, form.candidature_id)
            entreprise = (form.data or {}).get("entreprise")
            if entreprise:
                assert entreprise["raison_sociale"] == candidature.organisation.name
                assert form.data["produit"]["nom"] == candidature.product.name

    client = app.test_client()
    page = client.get("/certificats").get_data(as_text=True)
    assert "Aucun certificat délivré" not in page
    with app.app_context():
        for cert in db.scalars(select(Certificat)):
            assert cert.product_label in page


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_demo_issues_its_certificates_in_the_embedded_mode(backend, tmp_path) -> None:
    url = fresh_database_url(backend, tmp_path, "demo")
    app = create_app(base_config(tmp_path, url))
    try:
        _seed(app)
        _assert_demo_tells_the_truth(app)
    finally:
        app.extensions["db_engine"].dispose()


@pytest.mark.redis
@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_demo_queues_its_issuances_through_redis(backend, tmp_path) -> None:
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set (Redis tier)")
    from redis import Redis

    Redis.from_url(TEST_REDIS_URL).flushdb()
    url = fresh_database_url(backend, tmp_path, "demo")
    app = create_app({**base_config(tmp_path, url), "REDIS_URL": TEST_REDIS_URL})
    try:
        _seed(app)
        with app.app_context():  # queued, not yet issued: the worker does it
            assert db.scalar(select(func.count()).select_from(JobOutbox)) >= 2
            assert _stuck_issuances() >= 2
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": TEST_REDIS_URL,
               "INSTANCE_DIR": str(tmp_path), "STORAGE_DIR": app.config["STORAGE_DIR"],
               "MAIL_OUTBOX_DIR": str(tmp_path / "mails"), "SECRET_KEY": "demo-test",
               **{k: str(v) for k, v in base_config(tmp_path, url).items()
                  if k.startswith("SIGN")}}
        worker = subprocess.run([*WORKER, "--burst"], env=env, capture_output=True, text=True,
                                timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
        assert worker.returncode == 0, worker.stderr
        _assert_demo_tells_the_truth(app)
    finally:
        app.extensions["db_engine"].dispose()
        Redis.from_url(TEST_REDIS_URL).flushdb()


def _pending_outbox(app) -> int:
    with app.app_context():
        return db.scalar(select(func.count()).select_from(JobOutbox)
                         .where(JobOutbox.enqueued_at.is_(None)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_demo_exits_1_listing_the_issuances_that_failed(backend, tmp_path) -> None:
    url = fresh_database_url(backend, tmp_path, "demo")
    app = create_app({**base_config(tmp_path, url), "SIGNING_KEY": str(tmp_path / "absente.pem"),
                      "JOBS_RAISE": False})
    try:
        result = app.test_cli_runner().invoke(args=["seed-demo", "--candidatures", str(SEEDED)])
        assert result.exit_code == 1, result.output
        listed = [line for line in result.output.splitlines()
                  if line.startswith("  certificats.emettre(")]
        assert len(listed) >= 2 and all("SigningUnavailable" in line for line in listed)
        with app.app_context():  # visible where a vérificateur can retry them
            assert _stuck_issuances() == 0
            assert db.scalar(select(func.count()).select_from(CandidatureStep)
                             .where(CandidatureStep.status == "echec_emission")) == len(listed)
    finally:
        app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_demo_exits_1_when_redis_is_down(backend, tmp_path) -> None:
    from tests.test_issuance_crash import _free_port

    url = fresh_database_url(backend, tmp_path, "demo")
    app = create_app({**base_config(tmp_path, url),
                      "REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0"})
    try:
        result = app.test_cli_runner().invoke(args=["seed-demo", "--candidatures", str(SEEDED)])
        assert result.exit_code == 1, result.output
        listed = [line for line in result.output.splitlines()
                  if line.startswith("  certificats.emettre(")]
        assert len(listed) >= 2 and all("file sortante" in line for line in listed)
        assert _pending_outbox(app) == len(listed)  # kept for `flask pousser-taches`
    finally:
        app.extensions["db_engine"].dispose()
