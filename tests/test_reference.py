"""The reference data loader (backoffice/reference): idempotent, matched by code, an
admin's change kept, what candidatures use neither rewritten nor deleted, a bad file
refused in one French line before anything is half-applied."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from backoffice import reference
from backoffice.db import db
from backoffice.models import (
    DelayRule,
    Demarche,
    MessageTemplate,
    Piece,
    PieceType,
    Referentiel,
    ReferentielSection,
)
from backoffice.reference import ReferenceDataError
from tests.factories import CandidatureFactory, fichier_for
from tests.test_cli import cli_app  # noqa: F401 - a fresh database per test

ROOT = Path(__file__).resolve().parents[1]


def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(reference.DATA_DIR, target)
    return target


def edit(data_dir: Path, name: str, change: Any) -> None:
    path = data_dir / name
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content, ensure_ascii=False))


def counts() -> dict[str, int]:
    return {m.__tablename__: db.scalar(select(func.count()).select_from(m))
            for m in (Demarche, DelayRule, PieceType, MessageTemplate, Referentiel,
                      ReferentielSection)}


def rule(code: str, step: str) -> DelayRule:
    return db.scalar(select(DelayRule).where(DelayRule.demarche_code == code,
                                             DelayRule.step == step))


def test_the_session_database_holds_every_file_and_a_second_load_changes_nothing(ctx) -> None:
    before = counts()
    pieces = json.loads((reference.DATA_DIR / "pieces.json").read_text())["pieces"]
    templates = json.loads((reference.DATA_DIR / "message_templates.json").read_text())
    assert before["demarche"] == 5 and before["piece_type"] == len(pieces)
    assert before["message_template"] == len(templates["templates"])
    assert rule("dmn_pect", "preuves").legal_basis.startswith("CSS R.162-76")
    report = reference.load()
    assert not report.changed and report.notes == []
    assert counts() == before


def test_untouched_rows_follow_the_file_and_an_admins_change_is_kept(ctx, tmp_path) -> None:
    rule("dmn_pecan", "recevabilite").days = 45  # an admin's choice (admin area)
    db.get(MessageTemplate, "form.prise").subject = "Dossier pris en charge"
    db.flush()

    def longer(content: dict[str, Any]) -> None:
        for demarche in content["demarches"]:
            if demarche["code"] in ("dmn_pecan", "dmn_pect"):
                demarche["delays"]["recevabilite"]["days"] = 20
            if demarche["code"] == "dmn_pect":
                demarche["label"] = "Prise en charge transitoire (PECT, LPPR)"

    data = data_copy(tmp_path)
    edit(data, "demarches.json", longer)
    report = reference.load(data)
    assert rule("dmn_pect", "recevabilite").days == 20  # followed the file
    assert rule("dmn_pecan", "recevabilite").days == 45  # the admin's, kept
    assert db.get(Demarche, "dmn_pect").label == "Prise en charge transitoire (PECT, LPPR)"
    assert db.get(MessageTemplate, "form.prise").subject == "Dossier pris en charge"
    assert any("dmn_pecan/recevabilite" in n and "conservé" in n for n in report.notes)
    assert report.updated == {"delay_rule": 1, "demarche": 1}
    again = reference.load(data)
    assert not again.changed
    assert rule("dmn_pecan", "recevabilite").days == 45


def test_admin_switches_are_only_set_at_creation(ctx, tmp_path) -> None:
    demarche = db.get(Demarche, "dmn_ligne_generique")
    demarche.phase_transitoire = False  # the admin ended the transitional phase
    db.flush()
    reference.load()
    assert db.get(Demarche, "dmn_ligne_generique").phase_transitoire is False


def test_a_referentiel_in_use_is_not_rewritten_an_unused_one_follows_the_file(ctx, tmp_path) -> None:  # noqa: E501
    dmn = db.scalar(select(Referentiel).where(Referentiel.code == "dmn"))
    candidature = CandidatureFactory(demarche_code="dmn_pecan")
    candidature.referentiel_id, candidature.profils = dmn.id, ["GEN"]
    db.flush()
    old_title = dmn.sections[0].title

    def retitle(content: dict[str, Any]) -> None:
        content["dmn"]["sections"][0]["title"] = "Titre réécrit"
        content["sons_sas"]["sections"][0]["title"] = "Titre réécrit"

    data = data_copy(tmp_path)
    edit(data, "referentiel.json", retitle)
    report = reference.load(data)
    db.expire_all()
    dmn = db.scalar(select(Referentiel).where(Referentiel.code == "dmn"))
    sas = db.scalar(select(Referentiel).where(Referentiel.code == "sons_sas"))
    assert dmn.sections[0].title == old_title  # a candidature holds it
    assert sas.sections[0].title == "Titre réécrit"  # nobody does
    assert sas.current and dmn.current
    assert any("dmn V1" in n and "1 candidature" in n for n in report.notes)
    assert report.updated == {"referentiel": 1}
    assert not reference.load(data).changed


def test_a_piece_taken_out_of_the_file_goes_unless_a_candidature_filed_one(ctx, tmp_path) -> None:
    candidature = CandidatureFactory(demarche_code="dmn_pect")
    db.add(Piece(candidature_id=candidature.id, step="recevabilite", type_code="attestation_hds",
                 fichier=fichier_for(candidature, "hds.pdf")))
    db.flush()
    dropped = {"attestation_hds", "mandats_groupement"}

    def drop(content: dict[str, Any]) -> None:
        content["pieces"] = [p for p in content["pieces"]
                             if not (p["parcours"] == "dmn" and p["code"] in dropped)]

    data = data_copy(tmp_path)
    edit(data, "pieces.json", drop)
    report = reference.load(data)
    left = set(db.scalars(select(PieceType.code).where(PieceType.parcours == "dmn")))
    assert "attestation_hds" in left and "mandats_groupement" not in left
    assert any("attestation_hds" in n for n in report.notes)
    assert report.removed == {"piece_type": 1}
    # an admin's own pièce type is none of the loader's business
    db.add(PieceType(parcours="segur", step="depot", code="kbis", label="Extrait Kbis"))
    db.flush()
    reference.load(data)
    assert db.scalar(select(PieceType).where(PieceType.code == "kbis")) is not None


@pytest.mark.parametrize(("name", "change", "message"), [
    ("demarches.json", lambda c: c["demarches"][0].update(steps=["recevabilite"]),
     "ne correspond pas aux étapes du code"),
    ("demarches.json", lambda c: c["demarches"].pop(), "doivent être exactement"),
    ("demarches.json", lambda c: c["demarches"][0]["delays"]["preuves"].update(days=0),
     "entre 1 et 365"),
    ("pieces.json", lambda c: c["pieces"][0].update(step="convention"),
     "n'est pas une étape de formulaire"),
    ("pieces.json", lambda c: c["pieces"][1].pop("label"), "n'a pas de label"),
    ("referentiels.json", lambda c: c["referentiels"][0].update(key="absent"),
     "la partie « absent » est absente"),
])
def test_a_bad_file_is_refused_in_french_before_anything_changes(ctx, tmp_path, name, change,
                                                                 message) -> None:
    before = counts()
    data = data_copy(tmp_path)
    edit(data, name, change)
    with pytest.raises(ReferenceDataError, match=re.escape(message)):
        reference.load(data)
    db.rollback()  # what init-db does: one transaction
    assert counts() == before


def test_an_unreadable_file_is_named(tmp_path) -> None:
    data = data_copy(tmp_path)
    (data / "pieces.json").write_text("{ pas du json")
    with pytest.raises(ReferenceDataError, match="illisible.*pieces.json"):
        reference.files.read("pieces.json", data)
    (data / "pieces.json").unlink()
    with pytest.raises(ReferenceDataError, match="absent.*pieces.json"):
        reference.files.read("pieces.json", data)


def test_every_automatic_message_the_workflow_posts_has_its_wording() -> None:
    events = set()
    for path in (ROOT / "backoffice").rglob("*.py"):
        events.update(re.findall(r'post_system_message\(\s*candidature,\s*"([a-z_.]+)"',
                                 path.read_text()))
    events |= {"form.soumise", "form.resoumise", "convention.expiree", "convention.refusee",
               "convention.annulee", "convention.document"}
    assert len(events) > 20
    assert events <= set(reference.message_texts())


def test_init_db_records_a_later_change_of_the_reference_data_in_the_audit_trail(
        cli_app, tmp_path, monkeypatch) -> None:  # noqa: F811
    """On a database of its own: init-db commits, and holds the set-up lock meanwhile."""
    from backoffice.models import AuditEvent

    def audited() -> list[dict[str, Any]]:
        with cli_app.app_context():
            rows = db.scalars(select(AuditEvent.after).where(
                AuditEvent.action == "reference.chargee")).all()
            db.remove()
            return rows

    data = data_copy(tmp_path)
    monkeypatch.setattr(reference, "DATA_DIR", data)
    unchanged = cli_app.test_cli_runner().invoke(args=["init-db"])
    assert unchanged.exit_code == 0, unchanged.output
    assert "Données de référence : déjà à jour." in unchanged.output
    assert audited() == []

    edit(data, "demarches.json",
         lambda c: c["demarches"][0]["delays"]["preuves"].update(days=61))
    changed = cli_app.test_cli_runner().invoke(args=["init-db"])
    assert "mis à jour : 1 délai(s)" in changed.output, changed.output
    assert audited() == [{"created": {}, "updated": {"delay_rule": 1}, "removed": {}}]
