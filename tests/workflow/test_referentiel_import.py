"""Importing ANS's exigence export workbook builds a référentiel version."""

from __future__ import annotations

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Referentiel
from backoffice.workflow.base import InvalidInput
from backoffice.workflow.referentiel_import import COLUMNS, import_workbook, section_code

ROWS = [
    # Périmètre, ID, Chapitre, Fonction, Exigence, Commentaire, Profil, N° scénario,
    # Scénario, N° preuve, Preuve, Profil historique, Criticité, Ordre
    ("DMN", "INS 1.1", "Identité Nationale de Santé", "Traits stricts",
     "Le DMN DOIT gérer l'INS.", "", "INS", "INS 1.1.1", "Création", "INS 1.1.1.1",
     "Vidéo de création d'une identité", "", "MAJOR", 2),
    ("DMN", "INS 1.1", "Identité Nationale de Santé", "Traits stricts",
     "Le DMN DOIT gérer l'INS.", "", "INS", "INS 1.1.2", "Affichage", "INS 1.1.2.1",
     "Copie d'écran de l'IHM", "", "MAJOR", 2),
    ("DMN", "INS 0.9", "Identité Nationale de Santé", "Appel INSi",
     "Le DMN DOIT appeler INSi.", "", "INS", "", "", "", "", "", "CRITICAL", 1),
    ("DMN", "PSC 1", "Pro Santé Connect", "Authentification", "Le DMN DOIT proposer PSC.",
     "", "PS, GEN", "", "", "PSC 1.1", "Parcours de connexion", "", "MINOR", 1),
]


def _workbook(path, rows=ROWS, columns=COLUMNS):
    book = Workbook()
    sheet = book.active
    sheet.append(list(columns))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def test_import_builds_sections_exigences_preuves_and_profils(ctx, tmp_path) -> None:
    referentiel = import_workbook(_workbook(tmp_path / "export.xlsx"), code="dmn",
                                  version="V2", label="Référentiel DMN V2")
    assert referentiel.current is True
    assert [s.code for s in referentiel.sections] == ["INS", "PSC"]
    ins = referentiel.sections[0]
    assert ins.title == "Identité Nationale de Santé"
    assert [e.code for e in ins.exigences] == ["INS 0.9", "INS 1.1"]  # by Ordre
    first = ins.exigences[1]
    assert first.title == "Traits stricts" and first.criticite == "majeure"
    assert [p["code"] for p in first.expected_preuves] == ["INS 1.1.1.1", "INS 1.1.2.1"]
    assert {p.code: p.sections for p in referentiel.profils} == {
        "GEN": ["PSC"], "INS": ["INS"], "PS": ["PSC"]}


def test_a_new_version_becomes_current_and_versions_are_never_overwritten(ctx, tmp_path) -> None:
    path = _workbook(tmp_path / "export.xlsx")
    # V1 is the reference data's version (data/referentiels.json), in force until now
    v1 = db.scalar(select(Referentiel).where(Referentiel.code == "dmn",
                                             Referentiel.version == "V1"))
    assert v1.current
    v2 = import_workbook(path, code="dmn", version="V2", label="V2")
    db.expire_all()
    assert db.get(Referentiel, v1.id).current is False and db.get(Referentiel, v2.id).current
    for version in ("V1", "V2"):
        with pytest.raises(InvalidInput, match="existe déjà"):
            import_workbook(path, code="dmn", version=version, label=version)


def test_missing_columns_and_garbage_are_refused(ctx, tmp_path) -> None:
    with pytest.raises(InvalidInput, match="Colonnes absentes : ID"):
        import_workbook(_workbook(tmp_path / "a.xlsx", columns=("Chapitre", "Exigence")),
                        code="dmn", version="V3", label="x")
    garbage = tmp_path / "b.xlsx"
    garbage.write_bytes(b"not a workbook")
    with pytest.raises(InvalidInput, match="Classeur illisible"):
        import_workbook(garbage, code="dmn", version="V3", label="x")
    assert db.scalar(select(Referentiel).where(Referentiel.version == "V3")) is None


def test_section_codes_from_ids() -> None:
    assert section_code("INS 3.1") == "INS"
    assert section_code("INS/va1.01") == "INS"
    assert section_code("SC.PSC.06") == "PSC"


def test_cli_import(app, tmp_path, connection) -> None:
    path = _workbook(tmp_path / "export.xlsx")
    result = app.test_cli_runner().invoke(args=["import-referentiel", str(path), "--code",
                                                "dmn", "--version", "V9"])
    assert result.exit_code == 0, result.output
    assert "2 sections, 3 exigences, 3 profils" in result.output
    again = app.test_cli_runner().invoke(args=["import-referentiel", str(path), "--code",
                                               "dmn", "--version", "V9"])
    assert again.exit_code != 0 and "existe déjà" in again.output
