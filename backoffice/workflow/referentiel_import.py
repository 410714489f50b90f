"""Importing a référentiel from ANS's exigence export workbook (XLSX, one row per preuve,
columns listed in data/referentiel-README.md): Périmètre, ID, Chapitre, Fonction, Exigence,
Commentaire, Profil, N° scénario, Scénario de conformité, N° preuve, Preuve, Profil
historique, Criticité, Ordre."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Profil, Referentiel, ReferentielExigence, ReferentielSection
from backoffice.workflow.base import InvalidInput

COLUMNS = ("Périmètre", "ID", "Chapitre", "Fonction", "Exigence", "Commentaire", "Profil",
           "N° scénario", "Scénario de conformité", "N° preuve", "Preuve", "Profil historique",
           "Criticité", "Ordre")
REQUIRED = ("ID", "Chapitre", "Exigence")
CRITICITE = {"MINOR": "mineure", "MAJOR": "majeure", "CRITICAL": "critique",
             "MINEURE": "mineure", "MAJEURE": "majeure", "CRITIQUE": "critique"}


@dataclass
class _Exigence:
    code: str
    title: str
    statement: str
    criticite: str | None
    order: float
    preuves: list[dict[str, str]] = field(default_factory=list)


def section_code(exigence_id: str) -> str:
    """'INS 3.1' -> 'INS'; 'INS/va1.01' -> 'INS'; 'SC.PSC.06' -> 'PSC'."""
    value = exigence_id.strip().removeprefix("SC.")
    return re.split(r"[ /.]", value, maxsplit=1)[0].upper()


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:
        raise InvalidInput("invalid_workbook", f"Classeur illisible : {error}") from error
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput("missing_columns", "Colonnes absentes : " + ", ".join(missing) + ".")
    out = []
    for values in rows:
        row = {h: (str(v).strip() if v is not None else "") for h, v in zip(header, values,
                                                                           strict=False)}
        if row.get("ID"):
            out.append(row)
    workbook.close()
    return out


def import_workbook(path: Path, *, code: str, version: str, label: str,
                    make_current: bool = True) -> Referentiel:
    """Build a new référentiel version from the workbook (a version is never overwritten)."""
    if db.scalar(select(Referentiel).where(Referentiel.code == code,
                                           Referentiel.version == version)):
        raise InvalidInput("version_exists",
                           f"La version {version} du référentiel {code} existe déjà.")
    sections: dict[str, tuple[str, dict[str, _Exigence]]] = {}
    profils: dict[str, set[str]] = {}
    for row in _rows(path):
        exigence_id = row["ID"]
        section = section_code(exigence_id)
        title, exigences = sections.setdefault(section, (row.get("Chapitre") or section, {}))
        exigence = exigences.get(exigence_id)
        if exigence is None:
            try:
                order = float(row.get("Ordre") or len(exigences))
            except ValueError:
                order = len(exigences)
            statement = row.get("Exigence", "")
            exigence = exigences[exigence_id] = _Exigence(
                code=exigence_id, title=row.get("Fonction") or statement[:200],
                statement=statement, order=order,
                criticite=CRITICITE.get((row.get("Criticité") or "").upper()))
        if row.get("N° preuve") or row.get("Preuve"):
            exigence.preuves.append({"code": row.get("N° preuve") or "",
                                     "label": row.get("Preuve") or "",
                                     "scenario": row.get("Scénario de conformité") or ""})
        for profil in re.split(r"[,;\n]", row.get("Profil") or ""):
            if profil.strip():
                profils.setdefault(profil.strip(), set()).add(section)
    if not sections:
        raise InvalidInput("empty_workbook", "Le classeur ne contient aucune exigence.")
    if make_current:
        for other in db.scalars(select(Referentiel).where(Referentiel.code == code)):
            other.current = False
    referentiel = Referentiel(code=code, version=version, label=label, current=make_current)
    for position, (section, (title, exigences)) in enumerate(sections.items()):
        kept = ReferentielSection(code=section, title=title, position=position)
        ordered = sorted(exigences.values(), key=lambda e: e.order)
        kept.exigences = [ReferentielExigence(code=e.code, title=e.title, statement=e.statement,
                                              expected_preuves=e.preuves, criticite=e.criticite,
                                              position=i) for i, e in enumerate(ordered)]
        referentiel.sections.append(kept)
    if not profils:  # no Profil column: one profil selecting everything
        profils = {"GENERAL": set(sections)}
    referentiel.profils = [Profil(code=c, label=c, sections=sorted(s))
                           for c, s in sorted(profils.items())]
    db.add(referentiel)
    db.flush()
    return referentiel
