"""Whose turn it is, in SQL: ANS's (to instruct) or the vendor's (to answer), from the
queue fields the candidature keeps of its current step."""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from backoffice.models import Candidature, SectionReview

ANS_TURN = ("soumise", "en_instruction", "a_envoyer", "signee", "expiree", "refusee",
            "deposees", "echec_emission", "a_programmer", "inscrite")
VENDOR_TURN = ("brouillon", "complements_demandes", "envoyee", "en_attente_depot")


def section_waiting_on_ans() -> ColumnElement[bool]:
    section = aliased(SectionReview)
    return exists(select(section.id).where(
        section.candidature_id == Candidature.id,
        section.status.in_(("soumise", "en_revue"))))


def ans_turn() -> ColumnElement[bool]:
    status = Candidature.queue_status
    return or_(status.in_(ANS_TURN), and_(status == "en_cours", section_waiting_on_ans()))


def vendor_turn() -> ColumnElement[bool]:
    status = Candidature.queue_status
    return or_(status.in_(VENDOR_TURN), and_(status == "en_cours", ~section_waiting_on_ans()))
