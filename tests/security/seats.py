"""Putting a candidature on the agenda of a séance, directly in the database: for tests
that need a collège member who may read a dossier whatever its step (the workflow only
inscribes dossiers waiting for the collège)."""

from __future__ import annotations

from typing import Any

from backoffice.db import db, utcnow
from backoffice.models import AgendaItem, Seance


def seat(members: list[Any], candidature: Any, *, status: str = "ouverte") -> Seance:
    """A séance of `members` (the first presides) whose agenda holds `candidature`."""
    seance = Seance(date=utcnow(), label="Séance de test", president_id=members[0].id,
                    quorum=1, created_by_id=members[0].id, status=status,
                    closed_at=utcnow() if status == "close" else None)
    seance.members = list(members)
    db.add(seance)
    db.flush()
    db.add(AgendaItem(seance_id=seance.id, candidature_id=candidature.id))
    db.flush()
    return seance
