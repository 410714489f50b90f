"""Whole journeys through the real transitions, per démarche."""

from __future__ import annotations

from sqlalchemy import func, select

from backoffice.audit import verify_chain
from backoffice.db import db
from backoffice.models import AuditEvent, Demarche, ExigenceVerdict, Message, SectionReview


def _statuses(candidature):
    return {s.step: s.status for s in candidature.steps}


def test_nom_de_marque_reaches_the_college(driver, product) -> None:
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.drive(candidature, "college", complements=True, modifications=True)
    assert candidature.current_step == "college"
    assert _statuses(candidature) == {
        "recevabilite": "validee", "convention": "validee", "preuves": "validee",
        "college": "a_programmer", "certificat": "a_venir"}
    assert candidature.referentiel_id is not None
    assert candidature.profils == ["GEN", "INS"]
    sections = db.scalars(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id)).all()
    assert {s.code for s in sections} == {"ADM", "RGPD", "PORT", "INS"}
    assert all(s.status == "validee" for s in sections)
    assert max(s.round for s in sections) == 2  # one round of modifications
    actions = db.scalars(select(AuditEvent.action).where(
        AuditEvent.candidature_id == candidature.id).order_by(AuditEvent.id)).all()
    for expected in ("candidature.ouvrir", "recevabilite.soumettre",
                     "recevabilite.demander_complements", "recevabilite.valider",
                     "convention.envoyer", "convention.marquer_signee", "convention.valider",
                     "section.demander_modifications", "section.valider", "preuves.valider"):
        assert expected in actions, expected
    assert verify_chain().ok


def test_nom_de_marque_is_certified_after_a_favourable_college(driver, product) -> None:
    candidature = driver.open(product, "dmn_pecan")
    driver.drive(candidature, "certificat")
    assert candidature.current_step == "certificat"
    assert candidature.step("college").status == "favorable"
    assert candidature.step("certificat").status == "emission_en_cours"


def test_sons_sas_reaches_referencement(segur_driver, product) -> None:
    candidature = segur_driver.open(product, "sons_sas")
    segur_driver.drive(candidature, "referencement", complements=True, modifications=True)
    assert _statuses(candidature) == {
        "depot": "validee", "eligibilite": "validee", "convention": "validee",
        "preuves": "validee", "referencement": "emission_en_cours"}
    sections = db.scalars(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id)).all()
    assert [s.code for s in sections] == ["SAS"]
    assert verify_chain().ok


def test_ligne_generique_in_transitional_phase(driver, product) -> None:
    candidature = driver.open(product, "dmn_ligne_generique")
    assert [s.step for s in candidature.steps] == ["recevabilite", "preuves_pour_avis"]
    driver.drive(candidature, "fin")
    assert candidature.step("recevabilite").informative is True
    assert candidature.step("preuves_pour_avis").status == "deposees"
    from backoffice.workflow import avis

    avis.rendre_avis(candidature, actor=driver.verificateur,
                     par_exigence={"INS 1.1": "Preuve lisible et complète."},
                     message="Avis globalement favorable.")
    assert candidature.status == "avis_rendu" and candidature.closed_at is not None


def test_ligne_generique_after_the_transitional_phase(driver, product) -> None:
    db.get(Demarche, "dmn_ligne_generique").phase_transitoire = False
    candidature = driver.open(product, "dmn_ligne_generique")
    assert [s.step for s in candidature.steps][-1] == "certificat"
    driver.drive(candidature, "convention")
    assert candidature.step("recevabilite").informative is False


def test_each_transition_posts_to_the_thread(driver, product) -> None:
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.drive(candidature, "convention", complements=True)
    events = db.scalars(select(Message.event).where(
        Message.candidature_id == candidature.id).order_by(Message.id)).all()
    assert events == ["candidature.ouverte", "form.soumise", "form.prise",
                      "form.complements_demandes", "form.resoumise", "form.prise",
                      "form.validee"]


def test_modifications_round_keeps_earlier_verdicts(driver, product) -> None:
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.drive(candidature, "college", modifications=True)
    first = driver.sections(candidature)[0]
    verdicts = db.scalars(select(ExigenceVerdict).join(ExigenceVerdict.exigence).where(
        ExigenceVerdict.exigence.has(section_id=first.id))).all()
    rounds = {(v.exigence.code, v.round): v.verdict for v in verdicts}
    code = first.exigences[0].code
    assert rounds[(code, 1)] == "non_conforme" and rounds[(code, 2)] == "conforme"
    # the other exigences were judged once, in round 1, and stay conformes
    assert db.scalar(select(func.count()).select_from(ExigenceVerdict).where(
        ExigenceVerdict.round == 2, ExigenceVerdict.exigence.has(section_id=first.id))) == 1
