"""The queue's export: its columns, and the writers of its file (CSV, XLSX), shared by
the streamed download (reviewer/views.py) and the export job (jobs/exports.py).

Each writer takes an iterator of rows (queues.candidatures.stream or pages read by the
job) and writes them as they come: memory stays flat whatever the number of rows (the
XLSX writer is openpyxl's write-only workbook, which spools its sheet to a temp file).
Every cell goes through exports.cell (OWASP's CSV injection guidance)."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app

from backoffice import exports
from backoffice.filters import date_fr
from backoffice.queues.candidatures import VIEWS, Filters, Row
from backoffice.workflow.definitions import DEMARCHES, status_label, step_label

COLUMNS = ("Référence", "Produit", "Organisation", "Démarche", "Étape", "Statut",
           "Soumise le", "Échéance", "Jours restants", "Attribuée à", "Messages non lus",
           "Sections validées")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
PROGRESS_EVERY = 5000  # rows between two progress reports of the job
# A worksheet holds at most 1,048,576 rows (the OOXML format's limit, Excel's too): past it
# the spreadsheet goes on in a sheet of its own, headed again (« File (2) », …)
XLSX_SHEET_ROWS = 1_048_576

Progress = Callable[[int], None]


def values(row: Row) -> list[Any]:
    """One row's cells, neutralised (numbers we compute stay numbers)."""
    return list(exports.row((
        row.reference, row.product_label, row.organisation,
        DEMARCHES[row.demarche_code].label, step_label(row.step),
        status_label(row.step_status), date_fr(row.submitted_at),
        date_fr(row.due_at) if row.due_at else "",
        round(row.days_left) if row.days_left is not None else "",  # a number
        row.assignee_name or "", row.unread,
        f"{row.sections_validated}/{row.sections_total}" if row.sections_total else "",
    )))


def csv_chunks(rows: Iterable[Row], chunk_rows: int = 200) -> Iterator[bytes]:
    """The CSV's bytes, a chunk every `chunk_rows` rows (~30 kB: flat memory, few writes).
    The text is encoded with replacement, so that a row stored before input was checked
    cannot cut the file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    buffer.write("\ufeff")  # Excel opens UTF-8 only with a BOM
    writer.writerow(COLUMNS)
    for n, row in enumerate(rows, 1):
        writer.writerow(values(row))
        if n % chunk_rows == 0:
            yield buffer.getvalue().encode("utf-8", "replace")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8", "replace")


def _counted(rows: Iterable[Row], progress: Progress) -> Iterator[Row]:
    n = 0
    for n, row in enumerate(rows, 1):
        yield row
        if n % PROGRESS_EVERY == 0:
            progress(n)
    progress(n)


def write_csv(rows: Iterable[Row], out: BinaryIO, progress: Progress) -> None:
    for chunk in csv_chunks(_counted(rows, progress)):
        out.write(chunk)


def write_xlsx(rows: Iterable[Row], out: BinaryIO, progress: Progress) -> None:
    """The rows in sheets of XLSX_SHEET_ROWS rows at most, each headed by the columns (a
    sheet longer than that is more than Excel or LibreOffice opens whole)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    per_sheet = XLSX_SHEET_ROWS - 1  # the header's row

    def headed(number: int) -> Any:
        sheet = book.create_sheet("File" if number == 1 else f"File ({number})")
        sheet.append(COLUMNS)
        return sheet

    sheet = headed(1)
    for n, row in enumerate(_counted(rows, progress)):
        if n and n % per_sheet == 0:
            sheet = headed(n // per_sheet + 1)
        sheet.append(values(row))
    book.save(out)


WRITERS = {"csv": write_csv, "xlsx": write_xlsx}


def number_fr(n: int) -> str:
    """12 345 (a no-break space between thousands, as French writes them)."""
    return f"{n:,}".replace(",", "\u00a0")


def folder() -> Path:
    """Where export files are kept: EXPORT_DIR, by default STORAGE_DIR/exports (shared
    by the hosts as the file store is)."""
    config = current_app.config
    return Path(config.get("EXPORT_DIR") or Path(config["STORAGE_DIR"]) / "exports")


def new_file_key(export_id: int, fmt: str) -> str:
    """Unguessable, though the route checks the requester anyway."""
    return f"{export_id}-{secrets.token_hex(8)}.{fmt}"


def path_of(file_key: str) -> Path:
    name = Path(file_key).name  # a key is a bare name; never a path out of the folder
    return folder() / name


def file_name(export_id: int, fmt: str, created_at: Any) -> str:
    return f"file-{created_at:%Y%m%d-%H%M}-{export_id}.{fmt}"


def describe(filters: dict[str, str]) -> str:
    """The filters of an export in French, for the Exports page (written once, when the
    export is asked for)."""
    from backoffice.db import db
    from backoffice.models import CampaignWindow

    f = Filters.from_args(filters)
    parts = [f"vue « {VIEWS[f.view]} »"] if f.view != "a_traiter" else []
    if f.demarche:
        parts.append(f"démarche {DEMARCHES[f.demarche].label}" if f.demarche in DEMARCHES
                     else f"démarche {f.demarche}")
    if f.step:
        parts.append(f"étape {step_label(f.step)}")
    if f.status:
        parts.append(f"statut {status_label(f.status)}")
    if f.assignee == "moi":
        parts.append("mes dossiers")
    elif f.assignee == "personne":
        parts.append("non attribuées")
    elif f.assignee:
        parts.append("attribuées à un collègue")
    if f.turn == "ans":
        parts.append("au tour de l'ANS")
    elif f.turn == "industriel":
        parts.append("au tour de l'industriel")
    if f.overdue:
        parts.append("en retard")
    if f.campaign:
        window = db.get(CampaignWindow, f.campaign)
        parts.append(f"campagne {window.label}" if window else "une campagne")
    if f.q:
        parts.append(f"recherche « {f.q} »")
    return ", ".join(parts) if parts else "toute la file"
