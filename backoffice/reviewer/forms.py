"""The vérificateur's forms (WTForms, CSRF by Flask-WTF; text checked by SafeForm)."""

from __future__ import annotations

from flask_wtf.file import FileField, MultipleFileField
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from backoffice.webforms import SafeForm


class ActionForm(SafeForm):
    """A bare POST: only the CSRF token."""

    retour = HiddenField()


class ComplementsForm(SafeForm):
    pieces = SelectMultipleField("Pièces manquantes ou à corriger", choices=[],
                                 validate_choice=False)
    message = TextAreaField(
        "Message à l'industriel",
        validators=[DataRequired("Le message est obligatoire : indiquez ce qui manque ou ce "
                                 "qui est à corriger."), Length(max=10_000)],
    )


class RejetForm(SafeForm):
    motif = TextAreaField("Motif du rejet", validators=[
        DataRequired("Le motif du rejet est obligatoire."), Length(max=10_000)])
    confirmation = BooleanField("Je confirme le rejet : la candidature sera close.",
                                validators=[DataRequired("Cochez la case pour confirmer.")])


class ConfierForm(SafeForm):
    user_id = StringField("Confier à", validators=[DataRequired("Choisissez un collègue.")])


class EnvoiConventionForm(SafeForm):
    signature_request_id = StringField(
        "Identifiant de la demande de signature Yousign",
        validators=[Optional(), Length(max=100)],
    )


class SignatureManuelleForm(SafeForm):
    fichier = FileField("Convention signée (PDF)",
                        validators=[DataRequired("Joignez la convention signée (PDF).")])


class MessageForm(SafeForm):
    body = TextAreaField("Message", validators=[
        DataRequired("Le message ne peut pas être vide."), Length(max=20_000)])
    kind = RadioField("Type", choices=[("message", "Message à l'industriel"),
                                       ("note_interne", "Note interne (visible de l'ANS seule)")],
                      default="message")
    reponse_attendue = BooleanField("Réponse attendue de l'industriel")
    attachments = MultipleFileField("Pièces jointes")


class VueForm(SafeForm):
    """Saving the queue as it is shown (its arguments come with the form, as hidden
    fields: the view, filters, columns and sort of the page)."""

    nom = StringField("Nom de la vue", validators=[
        DataRequired("Donnez un nom à la vue."),
        Length(max=100, message="100 caractères au plus.")])
    equipe = StringField("Partager avec", validators=[Optional()])
