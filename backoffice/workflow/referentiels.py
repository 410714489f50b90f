"""Référentiels: loading them as data, and fixing a candidature's version and profils
at recevabilité (its sections and exigences are copied: editing the référentiel later
does not change a candidature in flight)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import (
    Candidature,
    CandidatureExigence,
    PieceType,
    Profil,
    Referentiel,
    ReferentielExigence,
    ReferentielSection,
    SectionReview,
    StepForm,
)
from backoffice.workflow.base import InvalidInput
from backoffice.workflow.definitions import Parcours


def referentiel_code(candidature: Candidature) -> str:
    return "sons_sas" if candidature.demarche_code == "sons_sas" else "dmn"


def current_referentiel(code: str) -> Referentiel | None:
    return db.scalar(select(Referentiel).where(Referentiel.code == code,
                                               Referentiel.current.is_(True)))


def check_profils(candidature: Candidature, profils: object) -> None:
    """The form's profils must be codes of the référentiel in force."""
    if not isinstance(profils, list) or not all(isinstance(p, str) for p in profils):
        raise InvalidInput("invalid_profils", "Les profils sont une liste de codes.")
    referentiel = current_referentiel(referentiel_code(candidature))
    known = {p.code for p in referentiel.profils} if referentiel else set()
    unknown = [p for p in profils if p not in known]
    if unknown:
        raise InvalidInput("unknown_profil", f"Profil inconnu : « {unknown[0]} ». "
                           f"Profils possibles : {', '.join(sorted(known))}.")


def _chosen_profils(candidature: Candidature, referentiel: Referentiel) -> list[str]:
    known = {p.code for p in referentiel.profils}
    forms = db.scalars(select(StepForm).where(StepForm.candidature_id == candidature.id)).all()
    chosen: list[str] = []
    for form in forms:
        for code in form.data.get("profils") or []:
            if code not in known:
                raise InvalidInput("unknown_profil", f"Profil inconnu : « {code} ».")
            if code not in chosen:
                chosen.append(code)
    return chosen or sorted(known)


def fix_referentiel(candidature: Candidature) -> None:
    """Fix the référentiel version and profils; copy the sections they select."""
    if candidature.referentiel_id is not None:
        return
    referentiel = current_referentiel(referentiel_code(candidature))
    if referentiel is None:
        raise InvalidInput("no_referentiel",
                           "Aucun référentiel en vigueur : un administrateur doit en charger un.")
    profils = _chosen_profils(candidature, referentiel)
    candidature.referentiel_id = referentiel.id
    candidature.profils = profils


def selected_sections(candidature: Candidature) -> list[ReferentielSection]:
    referentiel = db.get(Referentiel, candidature.referentiel_id)
    wanted: set[str] = set()
    for profil in referentiel.profils:
        if profil.code in candidature.profils:
            wanted.update(profil.sections)
    return [s for s in referentiel.sections if s.code in wanted]


def open_sections(candidature: Candidature) -> None:
    """The preuves step opens: one section review per selected section, à compléter."""
    if candidature.referentiel_id is None:
        fix_referentiel(candidature)
    for position, section in enumerate(selected_sections(candidature)):
        review = SectionReview(candidature_id=candidature.id, code=section.code,
                               title=section.title, position=position, status="a_completer")
        review.exigences = [
            CandidatureExigence(code=e.code, title=e.title, statement=e.statement,
                                expected_preuves=list(e.expected_preuves), position=i)
            for i, e in enumerate(section.exigences)
        ]
        db.add(review)
    db.flush()


def exigence_codes(candidature: Candidature) -> dict[str, str]:
    """code -> section code, from the candidature's référentiel (ligne générique zips)."""
    referentiel = db.get(Referentiel, candidature.referentiel_id) if candidature.referentiel_id \
        else current_referentiel(referentiel_code(candidature))
    if referentiel is None:
        return {}
    return {e.code: s.code for s in referentiel.sections for e in s.exigences}


# --- loading the shared reference data ------------------------------------------------


def load_json(path: Path, version: str = "V1") -> list[Referentiel]:
    """Load ../shared/referentiel/referentiel.json: the DMN and SONS SAS référentiels,
    their profils and the pièces justificatives. Idempotent per (code, version)."""
    data = json.loads(path.read_text())
    loaded = []
    dmn = data["dmn"]
    loaded.append(_load_referentiel(
        "dmn", version, dmn["referentiel"]["name"], dmn["sections"],
        [(p["code"], p["label"], p["selects"]) for p in dmn["profils"]],
    ))
    sas = data["sons_sas"]
    sas_sections = sas["sections"]
    loaded.append(_load_referentiel(
        "sons_sas", version, sas["demarche"]["label"], sas_sections,
        [("GENERAL", "Profil Général", [s["code"] for s in sas_sections])],
    ))
    _load_pieces(Parcours.dmn.value, "recevabilite", dmn["pieces_justificatives"])
    for step in sas["steps"]:
        if step.get("pieces"):
            _load_pieces(Parcours.segur.value, step["code"], step["pieces"])
    db.flush()
    return loaded


def _load_referentiel(code: str, version: str, label: str, sections: list[dict[str, Any]],
                      profils: list[tuple[str, str, list[str]]]) -> Referentiel:
    existing = db.scalar(select(Referentiel).where(Referentiel.code == code,
                                                   Referentiel.version == version))
    if existing is not None:
        return existing
    for other in db.scalars(select(Referentiel).where(Referentiel.code == code)):
        other.current = False
    referentiel = Referentiel(code=code, version=version, label=label, current=True)
    for i, section in enumerate(sections):
        row = ReferentielSection(code=section["code"], title=section["title"], position=i)
        row.exigences = [
            ReferentielExigence(code=e["code"], title=e["title"], statement=e.get("statement", ""),
                                expected_preuves=e.get("expected_preuves", []),
                                criticite=e.get("criticite"), position=j)
            for j, e in enumerate(section["exigences"])
        ]
        referentiel.sections.append(row)
    referentiel.profils = [Profil(code=c, label=lbl, sections=s) for c, lbl, s in profils]
    db.add(referentiel)
    return referentiel


def _load_pieces(parcours: str, step: str, pieces: list[dict[str, Any]]) -> None:
    for i, piece in enumerate(pieces):
        exists = db.scalar(select(PieceType).where(
            PieceType.parcours == parcours, PieceType.step == step,
            PieceType.code == piece["code"]))
        if exists is None:
            db.add(PieceType(parcours=parcours, step=step, code=piece["code"],
                             label=piece["label"], required=bool(piece.get("required")),
                             position=i))
