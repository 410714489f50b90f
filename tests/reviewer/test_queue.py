"""Queues: what a vérificateur sees, filters, keyset pages, CSV, and a fixed number of
SQL queries whatever the number of rows."""

from __future__ import annotations

import csv
import io
import re
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, insert, select

from backoffice.db import db, utcnow
from backoffice.models import Candidature, CandidatureStep
from tests.factories import ProductFactory
from tests.helpers import login, logout


def _references(html: str) -> list[str]:
    return re.findall(r'<tr data-reference="([A-Z]{9})"', html)


def test_home_counts_link_to_the_queues(desk) -> None:
    desk.candidature()
    desk.candidature()
    html = desk.client.get("/instruction/").get_data(as_text=True)
    row = html.split('data-step="recevabilite"')[1].split("</tr>")[0]
    assert "attribution=personne" in row and ">2</a>" in row


def test_queue_shows_only_the_teams_parcours(desk) -> None:
    dmn = desk.candidature("dmn_pecan")
    sas = desk.candidature("sons_sas", until="depot")
    mine = _references(desk.client.get("/instruction/file").get_data(as_text=True))
    assert dmn.reference in mine and sas.reference not in mine
    assert desk.client.get("/instruction/file?demarche=sons_sas").status_code == 404
    logout(desk.client)
    login(desk.client, desk.segur)
    theirs = _references(desk.client.get("/instruction/file").get_data(as_text=True))
    assert theirs == [sas.reference]


def test_filters(desk) -> None:
    from backoffice.workflow import forms

    a = desk.candidature("dmn_pecan", product=ProductFactory(organisation=desk.organisation,
                                                               name="Cardiolink"))
    b = desk.candidature("dmn_pect")
    c = desk.candidature("dmn_nom_de_marque", submit=False)
    forms.prendre(db.get(Candidature, b.id), "recevabilite", actor=desk.me)
    db.commit()

    def refs(query: str) -> set[str]:
        return set(_references(desk.client.get(f"/instruction/file?{query}")
                               .get_data(as_text=True)))

    assert refs("demarche=dmn_pecan") == {a.reference}
    assert refs("statut=en_instruction") == {b.reference}
    assert refs("attribution=moi") == {b.reference}
    assert refs("attribution=personne") == {a.reference, c.reference}
    assert refs("tour=ans") == {a.reference, b.reference}
    assert refs("tour=industriel") == {c.reference}
    assert refs("q=cardio") == {a.reference}
    # an exact reference opens its dossier (docs/workspace.md, « Vues et recherche »)
    found = desk.client.get(f"/instruction/file?q={b.reference.lower()}")
    assert found.status_code == 302
    assert found.headers["Location"].endswith(f"/instruction/candidatures/{b.reference}")
    assert refs(f"q={b.reference[:6].lower()}") == {b.reference}
    assert refs("q=careopt") == {a.reference, b.reference, c.reference}  # organisation
    assert refs("q=%25") == set()  # LIKE wildcards are searched literally
    # the term is written into the SQL (queues/candidatures.py): quotes and backslashes
    # stay text, on both databases
    assert refs("q=%27%29%20OR%201%3D1%20--") == set()  # ') OR 1=1 --
    assert refs("q=cardio%5C%27") == set()  # cardio\'
    assert refs("q=CARDIO") == {a.reference}
    step = db.get(Candidature, a.id).step("recevabilite")
    step.due_at = utcnow() - timedelta(days=2)
    db.commit()
    assert refs("en_retard=1") == {a.reference}


def test_default_sort_is_oldest_waiting_first_and_pages_by_key(desk, monkeypatch) -> None:
    import backoffice.queues.candidatures as queue

    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    created = [desk.candidature("dmn_pecan") for _ in range(5)]
    for i, candidature in enumerate(created):  # the first created waits the longest
        db.get(Candidature, candidature.id).step("recevabilite").submitted_at = \
            utcnow() - timedelta(days=30 - i)
    db.commit()
    seen, url = [], "/instruction/file"
    for _ in range(4):
        html = desk.client.get(url).get_data(as_text=True)
        seen += _references(html)
        match = re.search(r'href="(/instruction/file\?apres=[^"]+)"', html)
        if not match:
            break
        url = match.group(1).replace("&amp;", "&")
    assert seen == [c.reference for c in created]
    assert desk.client.get("/instruction/file?apres=n1mp0rte").status_code == 400


def test_csv_export_streams_the_filtered_queue(desk) -> None:
    a = desk.candidature("dmn_pecan")
    desk.candidature("dmn_pect")
    response = desk.client.get("/instruction/file.csv?demarche=dmn_pecan")
    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # streamed, size unknown upfront
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")),
                           delimiter=";"))
    assert rows[0][0] == "Référence"
    assert [r[0] for r in rows[1:]] == [a.reference]
    assert rows[1][3] == "Prise en charge anticipée (PECAN)" and rows[1][5] == "Soumise"


class Statements(list):
    """The SQL statements a block ran, with their parameters in `.params`."""

    def __init__(self) -> None:
        super().__init__()
        self.params: list = []


@contextmanager
def count_queries():
    engine = db.get_bind().engine
    statements = Statements()
    params = statements.params

    def before(conn, cursor, statement, parameters, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)
            params.append(parameters)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _bulk(desk, n: int) -> None:
    """n candidatures at recevabilité/soumise, inserted in bulk."""
    from backoffice.models import Demarche

    product = ProductFactory(organisation=desk.organisation)
    window = db.get(Demarche, "dmn_pecan").windows[0]
    now = utcnow()
    start = db.scalar(select(Candidature.id).order_by(Candidature.id.desc()).limit(1)) or 0
    db.execute(insert(Candidature), [
        {"reference": f"ZZ{i:07d}".replace("0", "A").replace("1", "B").replace("2", "C")
         .replace("3", "D").replace("4", "E").replace("5", "F").replace("6", "G")
         .replace("7", "H").replace("8", "I").replace("9", "J"),
         "organisation_id": desk.organisation.id, "product_id": product.id,
         "demarche_code": "dmn_pecan", "campaign_window_id": window.id,
         "current_step": "recevabilite", "status": "en_cours", "created_at": now,
         "last_activity_at": now, "version": 1, "profils": [], "email_opt_in": False}
        for i in range(start, start + n)])
    ids = db.scalars(select(Candidature.id).where(Candidature.reference.like("ZZ%"))).all()
    db.execute(insert(CandidatureStep), [
        {"candidature_id": cid, "step": "recevabilite", "position": 0, "status": "soumise",
         "submitted_at": now - timedelta(minutes=cid), "due_at": now + timedelta(days=cid % 40),
         "informative": False, "updated_at": now}
        for cid in ids if cid > start])
    db.commit()


def test_queue_page_runs_a_fixed_number_of_queries(desk) -> None:
    _bulk(desk, 10)
    with count_queries() as few:
        assert desk.client.get("/instruction/file").status_code == 200
    _bulk(desk, 1000)
    with count_queries() as many:
        html = desk.client.get("/instruction/file").get_data(as_text=True)
    assert len(_references(html)) == 50
    assert len(many) == len(few), "\n".join(many)
    # SQLite renders "LIMIT … OFFSET ?" even without an offset: it must be 0
    offsets = []
    for statement, params in zip(many, many.params, strict=True):
        for found in re.finditer(r"OFFSET (\?|\d+|%\(\w+\)s)", statement, re.I):
            value = found.group(1)
            if value == "?":  # SQLite's positional parameters: the how-manieth "?"
                value = params[statement[:found.start(1)].count("?")]
            offsets.append(value)
    assert all(v in (0, "0") for v in offsets), offsets
    # no exact COUNT(*) over the queue: the page's total counts at most 1,001 rows
    # (« plus de 1 000 » beyond), the rest are per-row unread and progress subqueries
    totals = [(s, p) for s, p in zip(many, many.params, strict=True)
              if re.search(r"count\(\*\)", s, re.I)]
    assert len(totals) == 1, totals
    statement, params = totals[0]
    limit = re.search(r"LIMIT (\?|\d+|%\(\w+\)s)", statement)
    assert limit is not None, statement
    value = limit.group(1)
    if value == "?":
        value = params[statement[:limit.start(1)].count("?")]
    elif value.startswith("%("):
        value = params[value[2:-2]]
    assert int(value) == 1001
    assert "Plus de 1\u202f000 candidatures" in html


def test_the_page_statement_selects_rows_in_row_order() -> None:
    """page() builds Row straight from the statement's columns on PostgreSQL: a column
    added or moved in the SELECT must be moved in Row too."""
    from dataclasses import fields

    import backoffice.queues.candidatures as queue

    statement = queue._statement(queue._Shape(sort="attente"))
    names = [c.name for c in statement.selected_columns][:queue.ROW_FIELDS]
    assert names == [f.name for f in fields(queue.Row)]


def test_search_follows_renamed_products_and_vendors(desk) -> None:
    product = ProductFactory(organisation=desk.organisation, name="Cardiolink")
    a = desk.candidature("dmn_pecan", product=product)
    b = desk.candidature("dmn_pect", product=ProductFactory(organisation=desk.organisation,
                                                            name="Oxymètre"))

    def refs(query: str) -> set[str]:
        return set(_references(desk.client.get(f"/instruction/file?{query}")
                               .get_data(as_text=True)))

    assert refs("q=cardiolink") == {a.reference}
    product.name = "Pulsaro Médical"  # an administrator renames the product
    db.commit()
    assert refs("q=cardiolink") == set()
    assert refs("q=PULSARO%20m%C3%A9dical") == {a.reference}  # any case, accents kept
    desk.organisation.name = "Éditions Santé Nord"  # and the vendor
    db.commit()
    assert refs("q=careoptim") == set()
    assert refs("q=%C3%A9ditions%20sant%C3%A9") == {a.reference, b.reference}
    assert db.get(Candidature, b.id).search_text.startswith(b.reference.lower())
