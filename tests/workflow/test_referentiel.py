"""A candidature keeps the référentiel version and profils fixed at recevabilité."""

from __future__ import annotations

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import (
    CandidatureExigence,
    ReferentielExigence,
    ReferentielSection,
    SectionReview,
)


def test_editing_the_referentiel_does_not_change_a_candidature_in_flight(driver, product) -> None:
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.drive(candidature, "preuves")
    ins = db.scalar(select(SectionReview).where(SectionReview.candidature_id == candidature.id,
                                                SectionReview.code == "INS"))
    before = [(e.code, e.title, e.statement) for e in ins.exigences]
    exigence = db.scalar(select(ReferentielExigence).join(ReferentielSection).where(
        ReferentielSection.code == "INS", ReferentielExigence.code == "INS 1.1"))
    exigence.title = "Titre modifié"
    exigence.statement = "Énoncé modifié"
    section = exigence.section
    section.exigences.append(ReferentielExigence(code="INS 99.1", title="Nouvelle",
                                                 statement="", position=99))
    db.flush()
    db.expire_all()
    ins = db.get(SectionReview, ins.id)
    assert [(e.code, e.title, e.statement) for e in ins.exigences] == before
    assert "INS 99.1" not in {e.code for e in db.scalars(select(CandidatureExigence))}


def test_profils_chosen_at_recevabilite_select_the_sections(driver, product) -> None:
    driver.profils = ["GEN", "PS"]
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.drive(candidature, "preuves")
    assert candidature.profils == ["GEN", "PS"]
    codes = [s.code for s in db.scalars(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id).order_by(SectionReview.position))]
    assert sorted(codes) == ["ADM", "ANN", "PORT", "PSC", "RGPD"]


def test_unknown_profil_is_refused_at_recevabilite(driver, product) -> None:
    import pytest

    from backoffice.workflow.base import InvalidInput

    driver.profils = ["GEN", "INCONNU"]
    candidature = driver.open(product, "dmn_nom_de_marque")
    with pytest.raises(InvalidInput, match="Profil inconnu"):
        driver.pass_form(candidature, "recevabilite")
