"""Reading the reference data files of data/ (beside config.py, in the source tree as in
the installed wheel). A missing or malformed file stops the load with one French line:
a half-loaded reference would let a candidature open without its pièces or delays."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from config import BASE_DIR

DATA_DIR = BASE_DIR / "data"


class ReferenceDataError(Exception):
    """The data files cannot be loaded as they are; `message` is French, for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def read(name: str, data_dir: Path | None = None) -> dict[str, Any]:
    path = (data_dir or DATA_DIR) / name
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReferenceDataError(f"Fichier de données de référence absent : {path}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReferenceDataError(
            f"Fichier de données de référence illisible : {path} ({error}).") from None
    if not isinstance(content, dict):
        raise ReferenceDataError(f"{path} : un objet JSON est attendu.")
    return content


def entries(content: dict[str, Any], key: str, name: str,
            required: tuple[str, ...]) -> list[dict[str, Any]]:
    """content[key], a list of objects each carrying `required` fields."""
    rows = content.get(key)
    if not isinstance(rows, list):
        raise ReferenceDataError(f"{name} : la liste « {key} » est absente.")
    for position, row in enumerate(rows, start=1):
        missing = [f for f in required if not isinstance(row, dict) or row.get(f) in (None, "")]
        if missing:
            raise ReferenceDataError(
                f"{name} : l'entrée n° {position} de « {key} » n'a pas de "
                f"{', '.join(missing)}.")
    return rows


@cache
def message_texts() -> dict[str, tuple[str, str]]:
    """The built-in wording of every automatic message: event -> (subject, body). The
    workflow falls back on it when the message_template row is absent."""
    name = "message_templates.json"
    rows = entries(read(name), "templates", name, ("event", "subject", "body"))
    return {row["event"]: (row["subject"], row["body"]) for row in rows}
