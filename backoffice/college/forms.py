"""The collège's forms (WTForms on SafeForm: French errors next to the fields)."""

from __future__ import annotations

from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from backoffice.webforms import SafeForm


class ConflitForm(SafeForm):
    raison = TextAreaField("Raison du conflit d'intérêts", validators=[
        DataRequired("Indiquez la raison du conflit d'intérêts."), Length(max=2_000)])
    confirmation = BooleanField(
        "Je confirme : je ne voterai pas sur ce dossier et mon vote éventuel est retiré.",
        validators=[DataRequired("Cochez la case pour confirmer.")])
