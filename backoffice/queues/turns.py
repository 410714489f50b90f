"""Whose turn it is: ANS's (to instruct) or the vendor's (to answer). The candidature
keeps it with its queue fields (`queue_turn`, see models/candidature.py: turn_of)."""

from __future__ import annotations

from sqlalchemy.sql.elements import ColumnElement

from backoffice.models import Candidature
from backoffice.models.candidature import ANS_TURN, VENDOR_TURN

__all__ = ["ANS_TURN", "VENDOR_TURN", "ans_turn", "vendor_turn"]


def ans_turn() -> ColumnElement[bool]:
    return Candidature.queue_turn == "ans"


def vendor_turn() -> ColumnElement[bool]:
    return Candidature.queue_turn == "industriel"
