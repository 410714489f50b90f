"""Référentiels in a candidature's life: which one it follows (`referentiel_code`),
its profils, and the version fixed at recevabilité (its sections and exigences are
copied: editing the référentiel later does not change a candidature in flight). Loading
the référentiels is reference data (backoffice/reference, data/referentiels.json, run by
init-db); `load_json` only remains for the tests that build a database of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import (
    Candidature,
    CandidatureExigence,
    Referentiel,
    ReferentielSection,
    SectionReview,
    StepForm,
)
from backoffice.workflow.base import InvalidInput


def referentiel_code(candidature: Candidature) -> str:
    return "sons_sas" if candidature.demarche_code == "sons_sas" else "dmn"


def current_referentiel(code: str) -> Referentiel | None:
    return db.scalar(select(Referentiel).where(Referentiel.code == code,
                                               Referentiel.current.is_(True)))


def profil_labels(candidature: Candidature) -> dict[str, str]:
    """code -> label of the profils of the candidature's référentiel (the one in force
    before recevabilité fixes it): people read « Général », never GEN."""
    from backoffice.models import Profil

    return dict(db.execute(select(Profil.code, Profil.label)
                           .where(Profil.referentiel_id == profils_referentiel(candidature)))
                .tuples().all())


def profils_referentiel(candidature: Candidature) -> Any:
    """The id of the référentiel whose profils the candidature's form names (a value, or
    a scalar subquery: one query, not two — the dossier page counts them)."""
    if candidature.referentiel_id is not None:
        return candidature.referentiel_id
    return select(Referentiel.id).where(
        Referentiel.code == referentiel_code(candidature),
        Referentiel.current.is_(True)).scalar_subquery()


def profils_text(candidature: Candidature) -> str:
    """The candidature's profils as people read them: « Général, DMN référençant … »."""
    labels = profil_labels(candidature) if candidature.profils else {}
    return ", ".join(labels.get(code, code) for code in candidature.profils) or "—"


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
    referentiel = db.get(Referentiel, candidature.referentiel_id) \
        if candidature.referentiel_id is not None else None
    if referentiel is None:  # callers fix it first (open_sections)
        raise InvalidInput("no_referentiel", "Aucun référentiel n'est fixé pour cette "
                           "candidature.")
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


def load_json(path: Path | None = None, version: str = "V1") -> list[Referentiel | None]:
    """Kept for callers written before backoffice/reference, which loads the référentiels
    (data/referentiels.json) with the rest of the reference data; `path` is ignored."""
    from backoffice import reference

    reference.load()
    return [db.scalar(select(Referentiel).where(Referentiel.code == code,
                                                Referentiel.version == version))
            for code in ("dmn", "sons_sas")]
