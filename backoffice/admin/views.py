from __future__ import annotations

from typing import Any

from flask import make_response
from flask_admin import expose
from flask_admin.actions import action
from markupsafe import Markup, escape
from wtforms import (
    PasswordField,
    SelectField,
    SelectMultipleField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from backoffice.admin.base import AdminForm, ParisDateTimeField, SecureModelView
from backoffice.auth.passwords import hash_password
from backoffice.models.user import ROLE_LABELS, Role
from backoffice.workflow.definitions import PARCOURS_LABELS, STEPS

MIN_PASSWORD = 12


class UserView(SecureModelView):
    column_list = ("email", "name", "roles", "teams", "active", "totp_enabled_at",
                   "last_login_at")
    column_labels = {
        "totp_enabled_at": "Double authentification",
        "email": "Adresse électronique",
        "name": "Nom",
        "roles": "Rôles",
        "teams": "Équipes",
        "active": "Actif",
        "secretaire": "Secrétaire de séance (collège)",
        "last_login_at": "Dernière connexion",
        "created_at": "Créé le",
        # a column label, not a password
        "new_password": "Nouveau mot de passe",  # nosec B105
    }
    column_searchable_list = ("email", "name")
    column_filters = ("active",)
    column_default_sort = "email"
    column_details_exclude_list = ("password_hash", "totp_secret", "totp_last_counter",
                                   "session_epoch", "enrolment_code_hash",
                                   "enrolment_code_expires_at")
    column_formatters = {
        "totp_enabled_at": lambda v, c, m, n: "Activée" if m.totp_enabled_at else "À activer",
        "roles": lambda v, c, m, n: ", ".join(m.role_labels),
        "teams": lambda v, c, m, n: ", ".join(t.name for t in m.teams),
    }
    form_columns = ("email", "name", "active", "roles", "secretaire", "teams", "new_password")
    form_args = {
        "email": {"validators": [Email("Adresse électronique invalide.")]},
        "secretaire": {"description": "Un membre du collège secrétaire de séance prépare les "
                                      "séances : date, membres, ordre du jour."},
    }
    form_extra_fields = {
        "roles": SelectMultipleField(
            "Rôles", choices=[(r.value, ROLE_LABELS[r]) for r in Role]
        ),
        "new_password": PasswordField(
            "Nouveau mot de passe",
            description=f"Au moins {MIN_PASSWORD} caractères. Laisser vide pour ne pas le changer.",
            validators=[Optional(), Length(min=MIN_PASSWORD, max=1024)],
        ),
    }
    can_delete = False  # accounts are deactivated, never deleted: the audit refers to them

    def on_form_prefill(self, form: Any, id: Any) -> None:
        model = self.get_one(id)
        form.roles.data = sorted(model.roles)

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        form.new_password.flags.required = True
        return form

    def validate_form(self, form: Any) -> bool:
        ok = super().validate_form(form)
        if ok and hasattr(form, "email"):
            from sqlalchemy import func, select

            from backoffice.db import db
            from backoffice.models import User

            email = (form.email.data or "").strip().lower()
            editing = getattr(form, "_obj", None)
            query = select(User.id).where(func.lower(User.email) == email)
            if editing is not None:
                query = query.where(User.id != editing.id)
            if db.scalar(query) is not None:
                form.email.errors.append(
                    "Cette adresse électronique est déjà celle d'un autre compte.")
                return False
        if ok and getattr(form, "secretaire", None) is not None and form.secretaire.data \
                and "college" not in (form.roles.data or []):
            form.secretaire.errors = [*form.secretaire.errors,
                                      "Seul un membre du collège peut être secrétaire de séance."]
            return False
        return ok

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        if is_created and not form.new_password.data:
            raise ValidationError("Un mot de passe est obligatoire pour un nouveau compte.")
        model.email = model.email.strip().lower()
        model.roles = form.roles.data or []
        from backoffice.auth.sessions import invalidate

        if form.new_password.data:
            model.password_hash = hash_password(form.new_password.data)
            invalidate(model)  # the old password's sessions end
        if not is_created and not model.active:
            invalidate(model)
        super().on_model_change(form, model, is_created)

    @action("reinitialiser_2fa", "Réinitialiser la double authentification",
            "Réinitialiser la double authentification des comptes sélectionnés ? Leurs "
            "sessions prennent fin ; un code d'activation à usage unique vous sera affiché "
            "pour chacun, à leur remettre en main propre ou par téléphone.")
    def action_reinitialiser_2fa(self, ids: list[str]) -> Any:
        """Each account re-enrols with its password AND a one-time enrolment code shown
        here once (backoffice/auth/enrolment.py): the password alone no longer enrols."""
        from flask_login import current_user
        from sqlalchemy import select

        from backoffice import audit
        from backoffice.auth import totp
        from backoffice.auth.sessions import invalidate
        from backoffice.db import db
        from backoffice.models import User

        users = db.scalars(select(User).where(User.id.in_([int(i) for i in ids]))
                           .order_by(User.email).with_for_update()).all()
        issued = []
        for user in users:
            code = totp.reset(user)
            invalidate(user)
            expires = user.enrolment_code_expires_at  # set by the reset
            audit.record(current_user._get_current_object(),
                         "admin.double_authentification_reinitialisee", user,
                         after={"code_activation_expire_le":
                                expires.isoformat() if expires else None})
            issued.append((user, code))
        # committed by the request's unit of work before this page leaves (no code is
        # shown that the database does not hold)
        response = self.render("admin/reset_2fa_codes.html", issued=issued)
        response = make_response(response)
        response.headers["Cache-Control"] = "no-store"  # the codes are shown once
        return response


class TeamView(SecureModelView):
    column_list = ("name", "parcours", "members")
    column_labels = {"name": "Nom", "parcours": "Parcours", "members": "Membres"}
    column_formatters = {
        "parcours": lambda v, c, m, n: PARCOURS_LABELS.get(m.parcours, m.parcours),
        "members": lambda v, c, m, n: ", ".join(u.name for u in m.members),
    }
    form_columns = ("name", "parcours", "members")
    form_choices = {"parcours": [(k.value, v) for k, v in PARCOURS_LABELS.items()]}


class OrganisationView(SecureModelView):
    column_list = ("name", "siret", "contact_email", "created_at")
    column_labels = {
        "name": "Raison sociale",
        "siret": "SIRET",
        "contact_email": "Contact",
        "created_at": "Créée le",
    }
    column_searchable_list = ("name", "siret")
    form_columns = ("name", "siret", "contact_email")
    form_args = {"siret": {"validators": [Optional(), Length(min=14, max=14)]}}
    can_delete = False


class DemarcheView(SecureModelView):
    can_create = False
    can_delete = False
    column_list = ("code", "label", "parcours", "active", "phase_transitoire", "windows")
    column_labels = {
        "code": "Code",
        "label": "Libellé",
        "parcours": "Parcours",
        "active": "Ouverte",
        "phase_transitoire": "Phase transitoire",
        "windows": "Campagnes",
    }
    column_formatters = {
        "parcours": lambda v, c, m, n: PARCOURS_LABELS.get(m.parcours, m.parcours),
        "windows": lambda v, c, m, n: Markup("<br>").join(escape(w.label) for w in m.windows),
    }
    column_descriptions = {
        "phase_transitoire": (
            "Ligne générique : recevabilité puis preuves pour avis (retour informatif)."
        ),
    }
    form_columns = ("label", "active", "phase_transitoire")


class CampaignWindowView(SecureModelView):
    column_list = ("demarche", "label", "opens_at", "closes_at")
    column_labels = {
        "demarche": "Démarche",
        "label": "Libellé",
        "opens_at": "Ouverture (heure de Paris)",
        "closes_at": "Fermeture (heure de Paris)",
    }
    column_default_sort = ("opens_at", True)
    form_columns = ("demarche", "label", "opens_at", "closes_at")
    form_overrides = {"opens_at": ParisDateTimeField, "closes_at": ParisDateTimeField}

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        if model.opens_at and model.closes_at and model.closes_at <= model.opens_at:
            raise ValidationError("La fermeture doit être postérieure à l'ouverture.")
        super().on_model_change(form, model, is_created)


class ApiTokenView(SecureModelView):
    """Organisation tokens for the intake API: shown once at creation, then only their
    prefix; revoked, never deleted."""

    can_edit = False
    can_delete = False
    can_view_details = False
    column_list = ("organisation", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    column_labels = {
        "organisation": "Organisation", "name": "Usage", "prefix": "Début du jeton",
        "created_at": "Créé le", "last_used_at": "Dernier usage", "revoked_at": "Révoqué le",
    }
    column_default_sort = ("created_at", True)
    form_columns = ("organisation", "name")

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        import hashlib
        import secrets

        from flask import flash

        if is_created:
            raw = "cvg_" + secrets.token_urlsafe(32)
            model.prefix = raw[:10]
            model.token_hash = hashlib.sha256(raw.encode()).hexdigest()
            flash(f"Jeton créé : {raw} — copiez-le maintenant, il ne sera plus jamais affiché.",
                  "success")
        super().on_model_change(form, model, is_created)

    @action("revoquer", "Révoquer", "Révoquer les jetons sélectionnés ? Le portail ne pourra "
            "plus les utiliser.")
    def action_revoquer(self, ids: list[str]) -> None:
        from flask import flash
        from flask_login import current_user

        from backoffice import audit
        from backoffice.db import db, utcnow
        from backoffice.models import ApiToken

        revoked = 0
        for token in db.query(ApiToken).filter(ApiToken.id.in_([int(i) for i in ids])):
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                audit.record(current_user._get_current_object(), "admin.apitoken.revoque",
                             token, after={"prefix": token.prefix})
                revoked += 1
        flash(f"{revoked} jeton(s) révoqué(s).", "success")


class DelayRuleView(SecureModelView):
    """How long ANS has for each (démarche, step); the clock pauses while the vendor has
    the file."""

    can_delete = False
    column_list = ("demarche_code", "step", "days", "working_days", "legal_basis")
    column_labels = {"demarche_code": "Démarche", "step": "Étape", "days": "Délai (jours)",
                     "working_days": "Jours ouvrés", "legal_basis": "Fondement"}
    column_default_sort = "demarche_code"
    form_columns = ("days", "working_days", "legal_basis")
    form_args = {"days": {"validators": [NumberRange(min=1, max=365)]}}
    column_formatters = {
        "step": lambda v, c, m, n: STEPS[m.step].label if m.step in STEPS else m.step,
    }


class PieceTypeView(SecureModelView):
    column_list = ("parcours", "step", "code", "label", "required")
    column_labels = {"parcours": "Parcours", "step": "Étape", "code": "Code",
                     "label": "Libellé", "required": "Obligatoire"}
    form_columns = ("parcours", "step", "code", "label", "required", "position")
    form_choices = {"parcours": [(k.value, v) for k, v in PARCOURS_LABELS.items()],
                    "step": [("recevabilite", "Recevabilité"), ("depot", "Dépôt"),
                             ("eligibilite", "Éligibilité")]}
    can_delete = False


class ReferentielView(SecureModelView):
    """Read-only here: référentiels are loaded as data (seed or import)."""

    can_create = can_edit = can_delete = False
    column_list = ("code", "version", "label", "current", "created_at")
    column_labels = {"code": "Code", "version": "Version", "label": "Libellé",
                     "current": "En vigueur", "created_at": "Chargé le"}


class MessageTemplateView(SecureModelView):
    """The wording of the automatic messages. Placeholders in braces ({step}, {section},
    {body}, {reference}…) are filled by the transition; an unknown one stays visible."""

    column_list = ("event", "subject")
    column_labels = {"event": "Événement", "subject": "Objet", "body": "Texte"}
    form_columns = ("event", "subject", "body")
    form_overrides = {"event": SelectField, "body": TextAreaField}
    form_args = {"event": {"choices": []}, "body": {"render_kw": {"rows": 8}}}
    column_descriptions = {"body": "Accolades : {step}, {section}, {round}, {body} (message saisi "
                                   "par le vérificateur), {reference}, {extra}. Pour "
                                   "« convention.document » (le texte de la convention à "
                                   "signer ; l'objet en est le titre) : {organisation}, "
                                   "{siret}, {produit}, {demarche}, {signataire}, {fonction}, "
                                   "{email}, {reference}, {date}."}
    can_view_details = False
    # every event has its row, loaded from data/ by `make db`: an admin edits, never adds
    can_create = False
    can_delete = False

    def create_form(self, obj: Any = None) -> Any:
        from backoffice.workflow.messages import TEXTS

        form = super().create_form(obj)
        form.event.choices = [(k, k) for k in sorted(TEXTS)]
        if not form.subject.data and form.event.data in TEXTS:
            form.subject.data, form.body.data = TEXTS[form.event.data]
        return form

    def edit_form(self, obj: Any = None) -> Any:
        from backoffice.workflow.messages import TEXTS

        form = super().edit_form(obj)
        form.event.choices = [(k, k) for k in sorted(TEXTS)]
        return form


class ReferentielExigenceView(SecureModelView):
    """Editing an exigence changes the référentiel for the next recevabilités only: a
    candidature in flight keeps the copy it took."""

    can_create = can_delete = False
    column_list = ("section", "code", "title", "criticite")
    column_labels = {"section": "Section", "code": "Code", "title": "Titre",
                     "statement": "Énoncé", "criticite": "Criticité",
                     "expected_preuves": "Preuves attendues"}
    column_searchable_list = ("code", "title")
    column_formatters = {"section": lambda v, c, m, n: f"{m.section.code} "
                                                       f"({m.section.referentiel.version})",
                         "criticite": lambda v, c, m, n: (m.criticite or "—").capitalize(),
                         "expected_preuves": lambda v, c, m, n: "; ".join(
                             f"{p.get('code', '')} {p.get('label', '')}".strip()
                             if isinstance(p, dict) else str(p)
                             for p in (m.expected_preuves or [])) or "—"}
    form_columns = ("title", "statement", "criticite")
    form_overrides = {"statement": TextAreaField}
    form_choices = {"criticite": [("", "—"), ("mineure", "Mineure"), ("majeure", "Majeure"),
                                  ("critique", "Critique")]}


class ProfilView(SecureModelView):
    can_delete = False
    column_list = ("referentiel", "code", "label", "sections")
    column_labels = {"referentiel": "Référentiel", "code": "Code", "label": "Libellé",
                     "sections": "Sections sélectionnées"}
    column_formatters = {"sections": lambda v, c, m, n: ", ".join(m.sections)}
    form_columns = ("label",)


def _certificat_label(table: str, code: str) -> str:
    from backoffice.workflow import certificats

    return getattr(certificats, table).get(code, code)


class CertificatView(SecureModelView):
    """Issued certificates; an admin suspends, withdraws or reinstates one with a motive
    (the public verification page says so at once)."""

    can_create = can_delete = can_edit = False
    column_list = ("number", "product_label", "organisation_name", "issued_at", "status")
    column_labels = {"number": "Numéro", "product_label": "Produit",
                     "organisation_name": "Exploitant", "issued_at": "Délivré le",
                     "status": "Statut", "kind": "Type", "fichier": "Document",
                     "next_check_at": "Prochain contrôle",
                     "numero_referencement": "Numéro de référencement",
                     "referentiel_label": "Référentiel", "sha256": "Empreinte SHA-256",
                     "status_changed_at": "Statut changé le", "status_motive": "Motif"}
    column_searchable_list = ("number", "product_label", "organisation_name")
    column_formatters = {
        "number": lambda v, c, m, n: Markup('<a href="{}">{}</a>').format(
            v.get_url(".change_status", id=m.id), m.number),
        "status": lambda v, c, m, n: _certificat_label("LABELS", m.status).capitalize(),
        "kind": lambda v, c, m, n: _certificat_label("DOCUMENTS", m.kind).capitalize(),
        "fichier": lambda v, c, m, n: m.fichier.original_name if m.fichier else "—",
    }
    column_formatters_detail = {
        **column_formatters,
        "number": lambda v, c, m, n: m.number,
    }

    @expose("/statut/<int:id>", methods=("GET", "POST"))
    def change_status(self, id: int) -> Any:
        """Suspend, withdraw or reinstate: one workflow transition on the locked row."""
        from flask import abort, flash, redirect, request
        from flask_login import current_user

        from backoffice.db import db
        from backoffice.models import Certificat
        from backoffice.workflow import certificats
        from backoffice.workflow.base import TransitionError

        posted = request.method == "POST"
        cert = certificats.load_for_update(id) if posted else db.get(Certificat, id)
        if cert is None:
            abort(404)
        actor = current_user._get_current_object()
        form = CertificatStatusForm(request.form if posted else None, obj=cert)
        allowed = certificats.targets(actor, cert)
        form.status.choices = [c for c in form.status.choices if c[0] in allowed]
        if posted and form.validate():
            change = certificats.BY_TARGET.get(form.status.data)
            try:
                if change is None:
                    raise TransitionError("invalid_status", "Choisissez un nouveau statut.")
                change(cert, actor=actor, motif=form.motive.data)
            except TransitionError as error:
                db.rollback()
                form.status.errors = [error.message]
            else:
                label = certificats.LABELS[cert.status]
                flash(f"{cert.number} : statut « {label} » enregistré ; l'industriel en est "
                      "informé dans sa messagerie.", "success")
                return redirect(self.get_url(".index_view"))
        return self.render("admin/certificat_status.html", cert=cert, form=form,
                           status_label=certificats.LABELS[cert.status], can_change=allowed)


class CertificatStatusForm(AdminForm):
    # a stale page may post a status no longer offered: the transition refuses it in French
    status = SelectField("Nouveau statut", validate_choice=False, choices=[
        ("suspendu", "Suspendu"), ("retire", "Retiré"), ("valide", "Valide (fin de suspension)")])
    motive = TextAreaField("Motif", validators=[
        DataRequired("Le motif est obligatoire."), Length(max=5000)])
