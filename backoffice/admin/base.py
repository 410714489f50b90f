from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from markupsafe import Markup
from wtforms import DateTimeLocalField

from backoffice import audit
from backoffice.filters import date_fr, datetime_fr
from backoffice.webforms import SafeForm

PARIS = ZoneInfo("Europe/Paris")


def _is_admin() -> bool:
    return current_user.is_authenticated and current_user.has_role("admin")


def _refuse() -> Any:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path))
    abort(403)


class AdminForm(SafeForm):
    """Flask-WTF's CSRF token on every admin form (the same token CSRFProtect checks),
    with the `_obj` attribute Flask-Admin's unique validator reads; text fields checked and
    normalised by SafeForm."""

    def __init__(self, formdata: Any = None, obj: Any = None, prefix: str = "", **kw: Any):
        self._obj = obj
        super().__init__(formdata=formdata, obj=obj, prefix=prefix, **kw)


class ParisDateTimeField(DateTimeLocalField):
    """Typed and shown in Paris time, stored in UTC."""

    data: datetime | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("format", ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"])
        super().__init__(*args, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        return self.data.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M") if self.data else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        super().process_formdata(valuelist)
        if isinstance(self.data, datetime) and self.data.tzinfo is None:
            self.data = self.data.replace(tzinfo=PARIS)


class SecureIndexView(AdminIndexView):
    def is_accessible(self) -> bool:
        return _is_admin()

    def handle_view_exception(self, exc: Exception) -> bool:
        """Flask-Admin would flash the database's own error text (SQL, table names): a
        constraint violation gets a French message instead; the transaction is rolled
        back by Flask-Admin."""
        from flask import flash
        from sqlalchemy.exc import IntegrityError

        from backoffice.errors import CONSTRAINT_MESSAGE

        if isinstance(exc, IntegrityError):
            flash(CONSTRAINT_MESSAGE, "error")
            return True
        return super().handle_view_exception(exc)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        return _refuse()

    @expose("/")
    def index(self) -> Any:
        return self.render("admin/index_backoffice.html")


# Columns that several models share: a view's own column_labels come first. A column shown
# with neither is a test failure (tests/test_admin_french.py), never Flask-Admin's English
# prettified name.
COMMON_LABELS = {
    "id": "Identifiant", "code": "Code", "label": "Libellé", "name": "Nom",
    "created_at": "Créé le", "updated_at": "Modifié le", "active": "Actif",
    "position": "Ordre", "parcours": "Parcours", "demarche": "Démarche",
    "demarche_code": "Démarche", "step": "Étape", "status": "Statut",
    "organisation": "Organisation", "referentiel": "Référentiel", "version": "Version",
    "members": "Membres", "teams": "Équipes", "users": "Utilisateurs",
    "secretaire": "Secrétaire de séance", "email": "Adresse électronique",
    "windows": "Campagnes", "sections": "Sections", "exigences": "Exigences",
    "profils": "Profils", "tokens": "Jetons d'API", "required": "Obligatoire",
}


def display(value: Any) -> str:
    """A related object as its users name it (never `<Model 3>`)."""
    for attribute in ("label", "name", "number", "code", "email"):
        text = getattr(value, attribute, None)
        if isinstance(text, str) and text:
            return text
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _list(view: Any, values: Any, name: str) -> str:
    return ", ".join(display(v) for v in values)


def _bool(view: Any, value: bool, name: str) -> Markup:
    return Markup("Oui") if value else Markup("Non")


FORMATTERS = {
    **ModelView.column_type_formatters,
    datetime: lambda view, value, name: datetime_fr(value),
    date: lambda view, value, name: date_fr(value),
    bool: _bool,
    list: _list,
    set: _list,
    Enum: lambda view, value, name: display(value),
}


class SecureModelView(ModelView):
    form_base_class = AdminForm
    page_size = 50
    can_view_details = True
    column_type_formatters = FORMATTERS
    # the details page used Flask-Admin's own formatters: UTC times, reprs, True/False
    column_type_formatters_detail = FORMATTERS

    def get_column_name(self, field: str) -> str:
        if self.column_labels and field in self.column_labels:
            return self.column_labels[field]
        return COMMON_LABELS.get(field, super().get_column_name(field))

    def _get_list_value(self, context: Any, model: Any, name: Any, column_formatters: Any,
                        column_type_formatters: Any) -> Any:
        value = super()._get_list_value(context, model, name, column_formatters,
                                        column_type_formatters)
        if hasattr(value, "__table__"):  # a related object: its name, not its repr
            return display(value)
        return value

    def is_accessible(self) -> bool:
        return _is_admin()

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        return _refuse()

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        action = "cree" if is_created else "modifie"
        audit.record(
            current_user._get_current_object(),
            f"admin.{type(model).__name__.lower()}.{action}",
            model,
            after={k: str(v) for k, v in (form.data or {}).items()
                   if k not in {"csrf_token", "new_password"}},
        )

    def on_model_delete(self, model: Any) -> None:
        audit.record(
            current_user._get_current_object(),
            f"admin.{type(model).__name__.lower()}.supprime",
            model,
            before={"label": str(model)},
        )
