"""Production mode: the convention's Yousign round trips queued on Redis (job outbox) and
run by an `rq worker` process, against the local fake Yousign server."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from backoffice.api.webhooks import sign
from backoffice.db import db
from backoffice.models import Candidature, Convention, Fichier, JobOutbox, Message, StepForm
from backoffice.workflow import convention
from backoffice.workflow.scenarios import FORM_DATA
from tests.factories import (
    CandidatureFactory,
    OrganisationFactory,
    ProductFactory,
    TeamFactory,
    UserFactory,
)
from tests.fake_yousign import AUDIT_TRAIL_PDF, SIGNED_PDF, FakeYousign
from tests.test_jobs import _run_worker, redis_app  # noqa: F401 - the Redis tier's app


@pytest.mark.redis
def test_a_worker_sends_the_convention_and_downloads_the_signed_documents(
        redis_app, monkeypatch) -> None:  # noqa: F811
    from backoffice.seed import ensure_demarches

    fake = FakeYousign("cle-worker")
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = {"YOUSIGN_API_URL": f"http://127.0.0.1:{server.server_port}/v3",
                "YOUSIGN_API_KEY": "cle-worker", "YOUSIGN_BACKOFF_SECONDS": "0",
                "YOUSIGN_WEBHOOK_SECRET": "secret-worker",
                "STORAGE_DIR": redis_app.config["STORAGE_DIR"]}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)  # the worker process's configuration
    redis_app.config.update({**settings, "YOUSIGN_BACKOFF_SECONDS": 0})
    try:
        with redis_app.app_context():
            ensure_demarches()
            verif = UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")])
            candidature = CandidatureFactory(
                product=ProductFactory(organisation=OrganisationFactory()),
                demarche_code="dmn_nom_de_marque", at="convention", status_at_step="a_envoyer",
                deciders=[verif])
            db.add(StepForm(candidature_id=candidature.id, step="recevabilite",
                            data=dict(FORM_DATA)))
            db.flush()
            convention.envoyer(candidature, actor=verif)
            db.commit()
            candidature_id = candidature.id
            # the request only wrote the job: Yousign is called by the worker
            assert fake.calls == []
            assert db.scalars(select(JobOutbox.job_name)).all() == ["conventions.envoyer"]
        worker = _run_worker(redis_app)
        assert worker.returncode == 0, worker.stderr
        assert [c[1].rsplit("/", 1)[-1] for c in fake.calls] == [
            "signature_requests", "documents", "signers", "activate"]
        with redis_app.app_context():
            found = db.scalar(select(Convention).where(
                Convention.candidature_id == candidature_id))
            request_id = found.signature_request_id
            assert request_id and fake.signers[request_id]["info"]["first_name"] == "Paul"
        body = json.dumps({"event_id": "evt-w1", "event_name": "signature_request.done",
                           "data": {"signature_request": {"id": request_id}}}).encode()
        hook = redis_app.test_client().post(
            "/api/v1/webhooks/yousign", data=body, content_type="application/json",
            headers={"X-Yousign-Signature-256": sign("secret-worker", body)})
        assert hook.json["status"] == "processed"
        worker = _run_worker(redis_app)
        assert worker.returncode == 0, worker.stderr
        with redis_app.app_context():
            found = db.scalar(select(Convention).where(
                Convention.candidature_id == candidature_id))
            assert db.get(Candidature, candidature_id).step("convention").status == "signee"
            assert db.get(Fichier, found.signed_fichier_id).size == len(SIGNED_PDF)
            assert db.get(Fichier, found.audit_trail_fichier_id).size == len(AUDIT_TRAIL_PDF)
            assert db.scalar(select(Message.event).where(
                Message.candidature_id == candidature_id).order_by(Message.id.desc())) == \
                "convention.documents"
    finally:
        server.shutdown()
