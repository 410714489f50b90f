"""Whose turn it is, in SQL: ANS's (to instruct) or the vendor's (to answer)."""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from backoffice.models import CandidatureStep, SectionReview

ANS_TURN = ("soumise", "en_instruction", "a_envoyer", "signee", "expiree", "refusee",
            "deposees", "echec_emission", "a_programmer", "inscrite")
VENDOR_TURN = ("brouillon", "complements_demandes", "envoyee", "en_attente_depot")


def section_waiting_on_ans(step: type[CandidatureStep]) -> ColumnElement[bool]:
    section = aliased(SectionReview)
    return exists(select(section.id).where(
        section.candidature_id == step.candidature_id,
        section.status.in_(("soumise", "en_revue"))))


def ans_turn(step: type[CandidatureStep]) -> ColumnElement[bool]:
    return or_(step.status.in_(ANS_TURN),
               and_(step.status == "en_cours", section_waiting_on_ans(step)))


def vendor_turn(step: type[CandidatureStep]) -> ColumnElement[bool]:
    return or_(step.status.in_(VENDOR_TURN),
               and_(step.status == "en_cours", ~section_waiting_on_ans(step)))
