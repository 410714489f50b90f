from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField(
        "Adresse électronique",
        validators=[DataRequired("Saisissez votre adresse électronique."), Length(max=254)],
    )
    password = PasswordField(
        "Mot de passe",
        validators=[DataRequired("Saisissez votre mot de passe."), Length(max=1024)],
    )


class CodeForm(FlaskForm):
    code = StringField(
        "Code de vérification",
        validators=[DataRequired("Saisissez le code affiché par votre application."),
                    Length(max=32, message="Ce code est trop long.")],
    )


class EnrolmentCodeForm(FlaskForm):
    code_activation = StringField(
        "Code d'activation",
        validators=[DataRequired("Saisissez le code d'activation remis par l'administrateur."),
                    Length(max=64, message="Ce code est trop long.")],
    )
