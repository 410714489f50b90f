"""Updating a reference row from data/ without undoing an admin's change.

For each field the loader knows three values: the data file's, the row's, and the one it
wrote last time (ReferenceSnapshot). The row follows the file while it still holds what
the loader wrote; a field that differs from it was changed by an admin and is kept (and
reported). A row with no snapshot (loaded before snapshots existed, or made by hand) is
treated the same way: its differing fields are kept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from backoffice.db import db, utcnow
from backoffice.models import ReferenceSnapshot

_MISSING = object()


@dataclass
class Report:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)  # French, one line each

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)

    def as_dict(self) -> dict[str, Any]:
        return {"created": dict(self.created), "updated": dict(self.updated),
                "removed": dict(self.removed)}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def snapshot(kind: str, key: str) -> ReferenceSnapshot | None:
    return db.get(ReferenceSnapshot, (kind, key))


def remember(kind: str, key: str, values: dict[str, Any]) -> None:
    snap = snapshot(kind, key)
    if snap is None:
        db.add(ReferenceSnapshot(kind=kind, key=key, values=dict(values)))
    elif snap.values != values:
        snap.values, snap.loaded_at = dict(values), utcnow()


def forget(kind: str, key: str) -> None:
    snap = snapshot(kind, key)
    if snap is not None:
        db.delete(snap)


def sync(kind: str, key: str, row: Any, wanted: dict[str, Any], report: Report,
         label: str) -> None:
    """Bring an existing row's fields to `wanted`, except those an admin changed."""
    snap = snapshot(kind, key)
    last = snap.values if snap is not None else {}
    updated = False
    for name, value in wanted.items():
        current = getattr(row, name)
        if current == value:
            continue
        if last.get(name, _MISSING) == current:
            setattr(row, name, value)
            updated = True
        else:
            report.notes.append(f"{label} : « {name} » modifié par un administrateur, "
                                f"conservé ({_short(current)} ; fichier : {_short(value)}).")
    if updated:
        report.updated[kind] += 1
    remember(kind, key, wanted)


def create(kind: str, key: str, row: Any, wanted: dict[str, Any], report: Report) -> None:
    db.add(row)
    report.created[kind] += 1
    remember(kind, key, wanted)
