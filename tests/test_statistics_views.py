"""/statistiques: who sees what (per role, refusals included), filters that cannot leak
another team's démarches or give a 500, exports (CSV, XLSX), a fixed query budget."""

from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook

from backoffice.db import db
from backoffice.statistics import aggregate
from tests.factories import CandidatureFactory, TeamFactory, UserFactory
from tests.helpers import GetEndpointChecks, login, logout
from tests.reviewer.test_queue import count_queries

PAGE = "/statistiques/"


class TestPageAccess(GetEndpointChecks):
    path = PAGE
    allowed_roles = ("verificateur", "college", "admin")


class TestExportAccess(GetEndpointChecks):
    path = "/statistiques/export/flux.csv"
    allowed_roles = ("verificateur", "admin")

    # the collège may open the page, not the vérificateurs' tables: 403 too (inherited)


@pytest.fixture
def history(ctx):
    """Two parcours' candidatures, the aggregates counted."""
    dmn = TeamFactory(parcours="dmn", name="Équipe DMN")
    segur = TeamFactory(parcours="segur", name="Équipe Ségur")
    dmn_user = UserFactory(name="Vera Dmn", roles=["verificateur"], teams=[dmn])
    segur_user = UserFactory(name="Sam Segur", roles=["verificateur"], teams=[segur])
    for status in ("soumise", "en_instruction", "validee"):
        CandidatureFactory(demarche_code="dmn_pecan", status_at_step=status,
                           deciders=[dmn_user])
    CandidatureFactory(demarche_code="sons_sas", at="eligibilite", status_at_step="soumise",
                       deciders=[segur_user])
    aggregate.rafraichir(complet=True)
    db.flush()
    return {"dmn": dmn_user, "segur": segur_user, "dmn_team": dmn, "segur_team": segur}


def _sections(html: str) -> list[str]:
    return re.findall(r'data-table="([a-z_]+)"', html)


def test_verificateur_sees_their_teams_demarches_only(client, history) -> None:
    login(client, history["segur"])
    html = client.get(PAGE + "?periode=8").get_data(as_text=True)
    assert _sections(html) == ["stock", "ages", "retards", "delais", "tours", "exigences",
                               "flux", "projection"]
    assert "Prise en charge anticipée" not in html  # a DMN démarche: not in the filter
    assert "Service d'accès aux soins" in html or "SAS" in html
    # the stock table counts the Ségur candidature, not the three DMN ones
    assert re.search(r"<caption>Candidatures en cours par étape.*?</table>", html, re.S)
    csv_text = client.get("/statistiques/export/retards.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["Étape", "En cours", "En retard"]
    assert rows[1:] == [["Éligibilité", "1", "0"]]


def test_a_forbidden_or_unknown_filter_falls_back_with_a_message(client, history) -> None:
    login(client, history["segur"])
    response = client.get(PAGE + "?demarche=dmn_pecan&periode=999&equipe="
                          f"{history['dmn_team'].id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Démarche inconnue ou hors de vos équipes" in html
    assert "Période inconnue" in html and "Équipe inconnue" in html
    csv_text = client.get("/statistiques/export/retards.csv?demarche=dmn_pecan") \
        .get_data(as_text=True)
    assert "Recevabilité" not in csv_text  # never the other team's figures


def test_a_code_in_the_query_string_keeps_the_drill_down_links(client, history,
                                                                monkeypatch) -> None:
    """The exigences' links carry the page's filters and their own code, nothing else of
    the query string: a code there too gave url_for two codes (a 500), and url_for's own
    options (`_external`, `_scheme`) are not the visitor's to set."""
    from backoffice.statistics import tables

    links = []
    build = tables.build

    def spy(facts, filters, which, link=None):
        links.append(link("EX-1") if link else None)
        return build(facts, filters, which, link)

    monkeypatch.setattr(tables, "build", spy)
    login(client, history["segur"])
    response = client.get(PAGE + "?periode=8&code=EX-9")
    assert response.status_code == 200
    assert links == ["/statistiques/exigences/EX-1?periode=8"]
    links.clear()
    client.get(PAGE + "?periode=8&_external=1&_scheme=javascript&x=1")
    assert links == ["/statistiques/exigences/EX-1?periode=8"]


def test_workload_is_for_administrators_only(client, history) -> None:
    login(client, history["dmn"])
    assert "charge" not in _sections(client.get(PAGE).get_data(as_text=True))
    assert client.get("/statistiques/export/charge.csv").status_code == 403
    logout(client)
    login(client, UserFactory(roles=["admin"]))
    html = client.get(PAGE).get_data(as_text=True)
    assert "charge" in _sections(html) and "seances" in _sections(html)
    assert "Vera Dmn" in html
    book = load_workbook(io.BytesIO(client.get("/statistiques/export/charge.xlsx").data))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header == ["Agent", "Dossiers attribués", "Décisions sur la période",
                      "Décisions par semaine"]
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert "Vera Dmn" in names


def test_every_table_exports_as_csv_and_xlsx_with_the_same_cells(client, history) -> None:
    login(client, UserFactory(roles=["admin"]))
    names = _sections(client.get(PAGE).get_data(as_text=True))
    assert len(names) == 10
    filled, numbers = 0, []
    for name in names:
        response = client.get(f"/statistiques/export/{name}.csv")
        assert response.status_code == 200, name
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")),
                               delimiter=";"))
        response = client.get(f"/statistiques/export/{name}.xlsx")
        assert response.status_code == 200, name
        assert response.mimetype == ("application/vnd.openxmlformats-officedocument."
                                     "spreadsheetml.sheet")
        assert f"statistiques-{name}.xlsx" in response.headers["Content-Disposition"]
        sheet = load_workbook(io.BytesIO(response.data)).active
        assert sheet.title == name
        cells = [["" if v is None else v for v in row]
                 for row in sheet.iter_rows(values_only=True)]
        assert len(cells) == len(rows) >= 1, name
        assert [[v if isinstance(v, str) else float(v) for v in row] for row in cells] == [
            [v if isinstance(x, str) else float(v) for v, x in zip(row, xrow, strict=True)]
            for row, xrow in zip(rows, cells, strict=True)], name
        filled += len(cells) > 1
        # figures are numbers in the sheet, not text
        numbers += [v for row in cells[1:] for v in row if not isinstance(v, str)]
    assert filled >= 6  # the history fills most tables (no lead time nor séance in it)
    assert numbers and all(isinstance(v, int | float) for v in numbers)


def test_college_sees_the_seances_only(client, history) -> None:
    login(client, UserFactory(roles=["college"]))
    html = client.get(PAGE).get_data(as_text=True)
    assert _sections(html) == ["seances"]
    assert client.get("/statistiques/export/seances.csv").status_code == 200
    assert client.get("/statistiques/export/delais.csv").status_code == 403
    assert client.get("/statistiques/export/seances.pdf").status_code == 404


def test_each_chart_has_its_table_and_summary(client, history) -> None:
    login(client, UserFactory(roles=["admin"]))
    html = client.get(PAGE + "?periode=26").get_data(as_text=True)
    for section in re.findall(r'<section class="fr-mb-6w stat-section".*?</section>', html,
                              re.S):
        assert "<table>" in section and 'class="stat-summary"' in section
        if "<svg" in section:
            assert 'role="img"' in section and "<desc" in section
    assert html.count("<svg") >= 5


def test_page_reads_a_fixed_number_of_queries(client, history) -> None:
    login(client, UserFactory(roles=["admin"]))
    client.get(PAGE)
    with count_queries() as few:
        client.get(PAGE)
    for _ in range(20):
        CandidatureFactory(demarche_code="dmn_pect", status_at_step="en_instruction")
    aggregate.rafraichir(complet=True)
    db.flush()
    with count_queries() as more:
        client.get(PAGE)
    assert len(more) == len(few)
    # the page never reads the raw tables
    raw = [s for s in more if re.search(r"\bFROM (candidature|candidature_step|section_review|"
                                        r"exigence_verdict|agenda_item)\b", s)]
    assert not raw, raw


@pytest.mark.parametrize("viewer", ["verificateur", "college", "admin", "anonymous"])
def test_statistics_pages_keep_the_page_budget(client, history, query_recorder,
                                               viewer) -> None:
    """At most 8 queries (the page budget of tests/reviewer/test_query_budgets.py) for
    every viewer, on each period (read from the period totals or grouped)."""
    if viewer == "anonymous":
        paths = ["/statistiques/publiques"]
    else:
        user = history["dmn"] if viewer == "verificateur" else UserFactory(roles=[viewer])
        login(client, user)
        paths = [PAGE, PAGE + "?periode=52", PAGE + "?periode=8&demarche=dmn_pecan"]
        if viewer != "college":
            paths.append("/statistiques/exigences/EX-1")
    for path in paths:
        client.get(path)
        with query_recorder:
            assert client.get(path).status_code == 200
        assert query_recorder.count <= 8, (viewer, path, query_recorder.queries)


def test_public_figures_count_certificates_per_month_without_vendor_data(client, ctx) -> None:
    from backoffice.db import utcnow
    from backoffice.statistics.common import month_of

    certified = CandidatureFactory(demarche_code="dmn_pecan", at="certificat",
                                   status_at_step="emis")
    certified.status, certified.closed_at = "certifiee", utcnow()
    referenced = CandidatureFactory(demarche_code="sons_sas", at="referencement",
                                    status_at_step="emis")
    referenced.status, referenced.closed_at = "referencee", utcnow()
    CandidatureFactory(demarche_code="dmn_pect")  # in progress: not counted
    db.flush()
    aggregate.rafraichir(complet=True)
    aggregate.rafraichir()  # an incremental run recounts the month, without doubling it
    response = client.get("/statistiques/publiques")  # anonymous
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    month = month_of(utcnow()).strftime("%m/%Y")  # the month of Paris
    row = re.search(rf'<tr><th scope="row">{month}</th>(.*?)</tr>', html).group(1)
    assert re.findall(r'>(\d+)<', row) == ["0", "1", "0", "0", "1"]
    assert certified.product.name not in html and certified.organisation.name not in html
