"""Antivirus: every upload is scanned by a real ClamAV daemon (clamd started here with a
local signature database that detects the EICAR test string, nothing downloaded). Until
a file is clean it cannot be opened anywhere; an infected one is quarantined, the vendor
is told, the vérificateur sees why."""

from __future__ import annotations

import io
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from backoffice import uploads
from backoffice.antivirus import Clamd, ScannerUnavailable
from backoffice.db import db
from backoffice.demo_files import one_page_pdf, preuves_zip
from backoffice.models import AuditEvent, Candidature, Fichier, Message, OutboxMail
from backoffice.tasks import enqueue
from backoffice.workflow import forms
from backoffice.workflow.base import Industriel
from tests.api.conftest import Api
from tests.conftest import missing_tier
from tests.factories import CandidatureFactory, OrganisationFactory, ProductFactory, UserFactory
from tests.helpers import csrf_token, login, logout
from tests.reviewer.conftest import desk  # noqa: F401 - the workspace fixture
from tests.security.seats import seat
from tests.test_jobs import _run_worker, redis_app  # noqa: F401 - the Redis tier's app

CLAMD = os.environ.get("CLAMD_PATH", "/usr/sbin/clamd")
# Split so that this source file is not itself flagged by a scanner.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-"
         b"STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
SIGNATURE = "Eicar-Test-Signature"
STREAM_MAX = 1024 * 1024
PENDING = "Fichier en cours d&#39;analyse antivirus : il ne peut pas encore être ouvert."

pytestmark = pytest.mark.clamav


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Daemon:
    socket_path: str
    tcp_port: int


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A real clamd on a Unix socket (and TCP), with one signature: EICAR, as hex."""
    if not os.access(CLAMD, os.X_OK):
        missing_tier(f"{CLAMD} is missing (Debian package clamav-daemon)")
    root = tmp_path_factory.mktemp("clamd")
    # AF_UNIX paths are limited to ~100 bytes: pytest's tmp paths can be longer.
    # One directory per daemon: a module may start its own daemon (the ligne générique
    # journey), whose teardown must not remove this one's socket.
    short = Path(tempfile.mkdtemp(prefix="clamd-", dir="/tmp"))  # short: AF_UNIX limit
    database = root / "db"
    database.mkdir()
    (database / "convergence-test.ndb").write_text(f"{SIGNATURE}:0:*:{EICAR.hex()}\n")
    sock, port = short / "clamd.sock", _free_port()
    conf = root / "clamd.conf"
    conf.write_text("\n".join([
        "Foreground yes", f"LocalSocket {sock}", f"TCPSocket {port}", "TCPAddr 127.0.0.1",
        f"DatabaseDirectory {database}", f"TemporaryDirectory {root}",
        f"PidFile {root / 'clamd.pid'}", f"LogFile {root / 'clamd.log'}", "LogSyslog no",
        f"StreamMaxLength {STREAM_MAX}", "MaxThreads 4", "SelfCheck 3600", ""]))
    output = root / "clamd.out"
    with output.open("wb") as out:  # a file, not a pipe: nobody reads it while tests run
        process = subprocess.Popen([CLAMD, "--config-file", str(conf)], stdout=out,
                                   stderr=subprocess.STDOUT)
    client = Clamd(socket_path=str(sock), timeout=10)
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"clamd exited: {output.read_text()[-2000:]}")
            try:
                if client.ping():
                    break
            except ScannerUnavailable:
                pass
            if time.monotonic() > deadline:
                pytest.fail("clamd did not answer PING within 60 s")
            time.sleep(0.2)
        yield Daemon(str(sock), port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(short, ignore_errors=True)


@pytest.fixture
def scanning(app, clamd, tmp_path) -> Iterator[Path]:
    """The application scans with the test clamd; quarantine in this test's folder."""
    quarantine = tmp_path / "quarantaine"
    app.config.update(CLAMD_SOCKET=clamd.socket_path, QUARANTINE_DIR=str(quarantine))
    yield quarantine
    app.config.update(CLAMD_SOCKET=None, QUARANTINE_DIR=None)


def _fichier(name: str) -> Fichier:
    db.expire_all()
    return db.scalar(select(Fichier).where(Fichier.original_name == name)
                     .order_by(Fichier.id.desc()).limit(1))


def _html(response) -> str:
    return response.get_data(as_text=True)


def _assert_quarantined(fichier: Fichier, quarantine: Path) -> None:
    assert fichier.scan_status == "infecte" and not fichier.openable
    assert fichier.scan_detail.startswith(SIGNATURE)
    assert not uploads.storage().exists(fichier.storage_key)  # the key names nothing
    kept = quarantine / f"fichier-{fichier.id}"
    assert kept.read_bytes() == EICAR
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(quarantine.stat().st_mode) == 0o700


# --- the daemon itself ------------------------------------------------------------------


def test_client_speaks_the_clamd_protocol_over_unix_and_tcp(clamd) -> None:
    for client in (Clamd(socket_path=clamd.socket_path, timeout=10),
                   Clamd(host="127.0.0.1", port=clamd.tcp_port, timeout=10)):
        assert client.ping()
        found = client.scan(io.BytesIO(b"notes\n" + EICAR + b"\n"), chunk_size=7)
        assert found.infected and found.signature.startswith(SIGNATURE)
        assert not client.scan(io.BytesIO(one_page_pdf("Sain"))).infected
        zipped = client.scan(io.BytesIO(preuves_zip([], {"INS/INS 1.1.txt": EICAR})))
        assert zipped.infected  # archives are scanned inside


# --- through the API and the screens ----------------------------------------------------


def test_clean_piece_is_scanned_then_opens(desk, scanning) -> None:  # noqa: F811
    candidature = desk.candidature(submit=False)
    pdf = one_page_pdf("Documentation fonctionnelle")
    response = desk.api.upload(f"/candidatures/{candidature.reference}/pieces", pdf,
                               "documentation.pdf", type="documentation_fonctionnelle",
                               step="recevabilite")
    assert response.status_code == 201, response.json
    assert response.json["file"]["scan_status"] == "en_attente"  # as committed
    fichier = _fichier("documentation.pdf")
    assert fichier.scan_status == "sain" and fichier.scanned_at and fichier.openable
    assert desk.client.get(f"/instruction/fichiers/{fichier.id}").data == pdf
    assert desk.client.get(f"/instruction/fichiers/{fichier.id}/apercu").status_code == 200
    api = desk.api.get(f"/candidatures/{candidature.reference}/files/{fichier.id}")
    assert api.status_code == 200 and api.data == pdf
    assert api.headers["Content-Disposition"].startswith("attachment")
    tab = _html(desk.client.get(f"/instruction/candidatures/{candidature.reference}",
                                query_string={"onglet": "pieces"}))
    assert f"/instruction/fichiers/{fichier.id}" in tab and "data-scan" not in tab


def test_infected_preuve_is_quarantined_and_refused_everywhere(desk, scanning) -> None:  # noqa: F811
    candidature = desk.candidature(until="preuves", submit=False)
    reference = candidature.reference
    response = desk.api.upload(f"/candidatures/{reference}/sections/INS/exigences/INS 1.1/"
                               "preuves", EICAR, "capture INS.txt")
    assert response.status_code == 201, response.json
    fichier = _fichier("capture INS.txt")
    _assert_quarantined(fichier, scanning)

    # the vérificateur: refused with the reason, badge with the signature, no link
    refused = desk.client.get(f"/instruction/fichiers/{fichier.id}")
    assert refused.status_code == 409 and EICAR not in refused.data
    assert "Fichier mis en quarantaine" in _html(refused)
    assert fichier.scan_detail in _html(refused)
    page = _html(desk.client.get(f"/instruction/candidatures/{reference}/sections/INS"))
    item = page.split("capture INS.txt")[1].split("</li>")[0]
    assert "Infecté — en quarantaine" in item and f"signature : {fichier.scan_detail}" in item
    assert f"/instruction/fichiers/{fichier.id}" not in page
    history = _html(desk.client.get(f"/instruction/candidatures/{reference}",
                                    query_string={"onglet": "historique"}))
    assert "a mis en quarantaine le fichier infecté « capture INS.txt »" in history

    # the vendor: JSON refusal, the state in the section, a message (e-mailed)
    api = desk.api.get(f"/candidatures/{reference}/files/{fichier.id}")
    assert api.status_code == 409
    assert api.json["code"] == "file_not_available"
    assert api.json["details"] == {"reason": "infecte"}
    section = desk.api.get(f"/candidatures/{reference}/sections/INS").json
    files = [p["file"] for e in section["exigences"] for p in e["preuves"]]
    assert {"name": "capture INS.txt", "scan_status": "infecte",
            "scan_signature": fichier.scan_detail}.items() <= files[0].items()
    thread = desk.api.get(f"/candidatures/{reference}/messages").json["items"]
    told = [m for m in thread if m["event"] == "antivirus.fichier_infecte"]
    assert len(told) == 1 and "« capture INS.txt »" in told[0]["body"]
    assert "mis en quarantaine" in told[0]["body"] and "version saine" in told[0]["body"]
    assert db.scalar(select(OutboxMail).where(OutboxMail.message_id == told[0]["id"]))

    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "antivirus.fichier_infecte"))
    assert event.candidature_id == candidature.id and event.target_id == str(fichier.id)
    assert event.actor_label == "antivirus (ClamAV)"
    assert event.after["signature"] == fichier.scan_detail

    # safe to run twice: nothing more happens
    assert enqueue("antivirus.analyser", fichier.id) is None
    assert db.scalar(select(Message.id).where(Message.event == "antivirus.fichier_infecte")
                     .offset(1)) is None

    logout(desk.client)
    login(desk.client, UserFactory(roles=["support"]))
    support = _html(desk.client.get("/support/", query_string={"reference": reference}))
    assert "Infecté — en quarantaine" in support and fichier.scan_detail in support


def test_infected_attachment_of_the_ans_in_the_messagerie(desk, scanning) -> None:  # noqa: F811
    candidature = desk.candidature()
    reference = candidature.reference
    pdf = one_page_pdf("Courrier")
    sent = desk.client.post(f"/instruction/candidatures/{reference}/messages", data={
        "kind": "message", "body": "Voici les documents.",
        "attachments": [(io.BytesIO(pdf), "courrier.pdf"), (io.BytesIO(EICAR), "lisez.txt")],
        "csrf_token": csrf_token(desk.client, "/")}, content_type="multipart/form-data",
        follow_redirects=True)
    assert "Message envoyé" in _html(sent)
    clean, infected = _fichier("courrier.pdf"), _fichier("lisez.txt")
    assert clean.scan_status == "sain"
    _assert_quarantined(infected, scanning)
    tab = _html(desk.client.get(f"/instruction/candidatures/{reference}",
                                query_string={"onglet": "messagerie"}))
    assert f"/instruction/fichiers/{clean.id}" in tab
    assert f"/instruction/fichiers/{infected.id}" not in tab
    assert "Infecté — en quarantaine" in tab and infected.scan_detail in tab
    assert desk.client.get(f"/instruction/fichiers/{infected.id}").status_code == 409
    # the vendor gets the clean one, not the other; uploaded by ANS, no "upload again"
    assert desk.api.get(f"/candidatures/{reference}/files/{clean.id}").data == pdf
    refused = desk.api.get(f"/candidatures/{reference}/files/{infected.id}")
    assert refused.status_code == 409 and refused.json["code"] == "file_not_available"
    assert db.scalar(select(Message).where(Message.event == "antivirus.fichier_infecte")) is None
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "antivirus.fichier_infecte"))


def test_infected_zip_for_avis_cannot_be_read(desk, scanning) -> None:  # noqa: F811
    candidature = desk.candidature("dmn_ligne_generique")
    forms.prendre(candidature, "recevabilite", actor=desk.me)
    forms.valider(candidature, "recevabilite", actor=desk.me)
    db.commit()
    reference = candidature.reference
    content = preuves_zip(["INS 1.1"], {"divers/outil.txt": EICAR})
    upload = desk.api.upload(f"/candidatures/{reference}/preuves-pour-avis", content,
                             "preuves_INS.zip")
    assert upload.status_code == 201, upload.json
    fichier = _fichier("preuves_INS.zip")
    assert fichier.scan_status == "infecte"
    page = _html(desk.client.get(f"/instruction/candidatures/{reference}/pour-avis"))
    assert "Infecté — en quarantaine" in page and "/entree" not in page
    entry = desk.client.get(f"/instruction/candidatures/{reference}/pour-avis/"
                            f"{upload.json['id']}/entree", query_string={"nom": "INS 1.1.pdf"})
    assert entry.status_code == 409 and "Fichier mis en quarantaine" in _html(entry)


def test_pending_file_cannot_be_opened(app, desk, scanning) -> None:  # noqa: F811
    """Scanning configured, the scan not run yet (nothing committed): refused everywhere,
    then opened once the commit has run the scan."""
    candidature = desk.candidature(submit=False)
    reference, pdf = candidature.reference, one_page_pdf("Attestation")
    college = app.test_client()
    member = UserFactory(roles=["college"])
    seat([member], candidature)  # a member reads only the dossiers of their séances
    login(college, member)
    with app.test_request_context("/"):
        upload = FileStorage(io.BytesIO(pdf), "attestation.pdf")
        fichier = uploads.store(candidature, upload, "piece")
        candidature = db.get(Candidature, candidature.id)
        forms.ajouter_piece(candidature, "recevabilite", "documentation_fonctionnelle",
                            fichier, actor=Industriel(desk.organisation))
        db.flush()
        assert fichier.scan_status == "en_attente" and not fichier.openable
        for path in (f"/instruction/fichiers/{fichier.id}",
                     f"/instruction/fichiers/{fichier.id}/apercu"):
            refused = desk.client.get(path)
            assert refused.status_code == 409 and PENDING in _html(refused), path
        tab = _html(desk.client.get(f"/instruction/candidatures/{reference}",
                                    query_string={"onglet": "pieces"}))
        assert "En cours d'analyse" in tab and f"/fichiers/{fichier.id}" not in tab
        api = desk.api.get(f"/candidatures/{reference}/files/{fichier.id}")
        assert api.status_code == 409 and api.json["details"] == {"reason": "en_attente"}
        assert api.json["message"] == PENDING.replace("&#39;", "'")
        assert college.get(f"/college/fichiers/{fichier.id}").status_code == 409
        dossier = _html(college.get(f"/college/dossiers/{reference}"))
        assert "En cours d'analyse" in dossier and f"/fichiers/{fichier.id}" not in dossier
        fichier_id = fichier.id
        db.commit()  # the scan runs after the commit, which keeps the upload's bytes
    assert _fichier("attestation.pdf").scan_status == "sain"
    assert college.get(f"/college/fichiers/{fichier_id}").data == pdf
    assert desk.client.get(f"/instruction/fichiers/{fichier_id}").data == pdf


def test_clamd_down_then_rescanned(app, desk, scanning, clamd, tmp_path, caplog) -> None:  # noqa: F811
    candidature = desk.candidature(submit=False)
    reference, pdf = candidature.reference, one_page_pdf("Plan de tests")
    app.config.update(CLAMD_SOCKET=str(tmp_path / "personne.sock"), JOBS_RAISE=False)
    try:
        response = desk.api.upload(f"/candidatures/{reference}/pieces", pdf, "plan.pdf",
                                   type="documentation_fonctionnelle", step="recevabilite")
    finally:
        app.config["JOBS_RAISE"] = True
    assert response.status_code == 201, response.json
    assert any("antivirus.analyser" in r.getMessage() for r in caplog.records)
    fichier = _fichier("plan.pdf")
    assert fichier.scan_status == "erreur" and not fichier.openable
    assert "clamd injoignable" in fichier.scan_detail
    refused = desk.client.get(f"/instruction/fichiers/{fichier.id}")
    assert refused.status_code == 409 and "Analyse antivirus en échec" in _html(refused)
    assert desk.api.get(f"/candidatures/{reference}/files/{fichier.id}").json["details"] == {
        "reason": "erreur"}
    tab = _html(desk.client.get(f"/instruction/candidatures/{reference}",
                                query_string={"onglet": "pieces"}))
    assert "Analyse en échec" in tab and f"/fichiers/{fichier.id}" not in tab
    # the job raises, so that RQ retries it
    with pytest.raises(ScannerUnavailable):
        enqueue("antivirus.analyser", fichier.id)

    app.config["CLAMD_SOCKET"] = clamd.socket_path  # the daemon is back
    result = app.test_cli_runner().invoke(args=["analyser-fichiers"])
    assert result.exit_code == 0 and "1 fichier(s) remis en analyse." in result.output
    assert _fichier("plan.pdf").scan_status == "sain"
    assert desk.client.get(f"/instruction/fichiers/{fichier.id}").data == pdf


def test_over_the_daemons_size_limit_is_an_error(desk, scanning) -> None:  # noqa: F811
    candidature = desk.candidature(submit=False)
    big = b"%PDF-1.4\n" + b"0" * (STREAM_MAX + 64 * 1024) + b"\n%%EOF\n"
    response = desk.api.upload(f"/candidatures/{candidature.reference}/pieces", big,
                               "gros.pdf", type="documentation_fonctionnelle",
                               step="recevabilite")
    assert response.status_code == 201, response.json  # the job recorded it, no retry
    fichier = _fichier("gros.pdf")
    assert fichier.scan_status == "erreur" and "size limit exceeded" in fichier.scan_detail
    assert uploads.storage().exists(fichier.storage_key)  # not infected: kept


# --- production mode: the scan queued on Redis, run by an `rq worker` process ----------


@pytest.mark.redis
def test_scan_goes_through_redis_to_a_worker(redis_app, clamd, tmp_path, monkeypatch) -> None:  # noqa: F811
    from backoffice.seed import ensure_demarches, new_api_token

    quarantine = tmp_path / "quarantaine"
    redis_app.config.update(CLAMD_SOCKET=clamd.socket_path, QUARANTINE_DIR=str(quarantine))
    monkeypatch.setenv("CLAMD_SOCKET", clamd.socket_path)
    monkeypatch.setenv("QUARANTINE_DIR", str(quarantine))
    monkeypatch.setenv("STORAGE_DIR", redis_app.config["STORAGE_DIR"])
    with redis_app.app_context():
        ensure_demarches()
        organisation = OrganisationFactory()
        candidature = CandidatureFactory(product=ProductFactory(organisation=organisation))
        token, raw = new_api_token(organisation, "portail")
        db.add(token)
        db.commit()
        reference = candidature.reference
    api = Api(redis_app.test_client(), raw)
    pdf = one_page_pdf("Compte rendu")
    sent = api.post(f"/candidatures/{reference}/messages", data={
        "body": "Nos documents.", "attachments": [(io.BytesIO(pdf), "compte-rendu.pdf"),
                                                  (io.BytesIO(EICAR), "outil.txt")]},
        content_type="multipart/form-data")
    assert sent.status_code == 201, sent.json
    clean, infected = (a["id"] for a in sent.json["attachments"])
    pending = api.get(f"/candidatures/{reference}/files/{clean}")
    assert pending.status_code == 409 and pending.json["details"] == {"reason": "en_attente"}

    worker = _run_worker(redis_app)
    assert worker.returncode == 0, worker.stderr
    assert api.get(f"/candidatures/{reference}/files/{clean}").data == pdf
    assert api.get(f"/candidatures/{reference}/files/{infected}").json["details"] == {
        "reason": "infecte"}
    with redis_app.app_context():
        fichier = db.get(Fichier, infected)
        _assert_quarantined(fichier, quarantine)
        assert db.scalar(select(Message).where(Message.event == "antivirus.fichier_infecte"))
