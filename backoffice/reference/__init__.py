"""Reference data: what a fresh production needs before its first candidature, loaded
from data/ by `flask --app backoffice init-db` (after the migrations) and by the tests'
session set-up — never demo data (that is backoffice/seed.py).

- démarches, their steps (checked against the code) and default delays: demarches.json
- pièces justificatives per parcours and form step: pieces.json
- référentiel versions with their sections, exigences and profils: referentiels.json,
  referentiel.json
- automatic messages' wording: message_templates.json

Idempotent: a second load changes nothing; rows are matched by code, an admin's changes
are kept (merge.py), what candidatures use is neither rewritten nor deleted. Campaign
windows are not reference data: an admin opens them (admin area, Campagnes)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Demarche, MessageTemplate, ReferenceSnapshot
from backoffice.reference import demarches, pieces, referentiels, templates
from backoffice.reference.files import DATA_DIR, ReferenceDataError, message_texts, read
from backoffice.reference.merge import Report

__all__ = ["DATA_DIR", "TABLES", "ReferenceDataError", "Report", "load", "message_texts"]

# The tables init-db fills: a database holding nothing else is as empty as a new one (a
# restore may replace it without --force).
TABLES = ("demarche", "delay_rule", "piece_type", "message_template", "referentiel",
          "referentiel_section", "referentiel_exigence", "profil", "reference_snapshot")


def load(data_dir: Path | None = None) -> Report:
    """Load every reference file into the session (flushed, not committed: the caller
    commits once, so a file refused half-way leaves the database as it was)."""
    data_dir = data_dir or DATA_DIR
    contents = {name: read(name, data_dir) for name in (
        demarches.NAME, pieces.NAME, templates.NAME, referentiels.NAME)}
    demarches.check(contents[demarches.NAME])
    pieces.check(contents[pieces.NAME])
    kept = _preload()  # held: the identity map only keeps rows that something references
    report = Report()
    demarches.load(contents[demarches.NAME], report)
    pieces.load(contents[pieces.NAME], report)
    templates.load(contents[templates.NAME], report)
    referentiels.load(contents[referentiels.NAME], report, data_dir)
    del kept
    return report


def _preload() -> list[object]:
    """The rows looked up one by one, in three queries (db.get then finds them in the
    identity map): a load with nothing to do (each deployment, each test session) costs a
    handful of queries."""
    return [row for model in (ReferenceSnapshot, MessageTemplate, Demarche)
            for row in db.scalars(select(model))]
