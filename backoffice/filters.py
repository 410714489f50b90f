"""Jinja filters and globals: dates in French, in Europe/Paris."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from backoffice.workflow import definitions

PARIS = ZoneInfo("Europe/Paris")
MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
    "septembre", "octobre", "novembre", "décembre",
)


def to_paris(value: datetime) -> datetime:
    return value.astimezone(PARIS)


def date_fr(value: datetime | None) -> str:
    """14 décembre 2023"""
    if value is None:
        return "—"
    local = to_paris(value)
    day = "1er" if local.day == 1 else str(local.day)
    return f"{day} {MONTHS[local.month - 1]} {local.year}"


SHORT_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.",
                "oct.", "nov.", "déc.")


# DSFR badge colour of a step's status (_macros/badges.html: step_status)
STATUS_COLOURS = definitions.STATUS_COLOURS


def date_court(value: datetime | None) -> str:
    """23 juil. 2026"""
    if value is None:
        return "—"
    local = to_paris(value)
    return f"{local.day} {SHORT_MONTHS[local.month - 1]} {local.year}"


def datetime_fr(value: datetime | None) -> str:
    """14 décembre 2023 14:00 — the guide's "(Heure de Paris)" format."""
    if value is None:
        return "—"
    local = to_paris(value)
    return f"{date_fr(value)} {local:%H:%M}"


def init_app(app: Flask) -> None:
    from backoffice import safetext

    # Jinja's finalize (stored text that cannot be encoded still renders) and the guard on
    # every query string and form field: set up with the filters, before any template.
    safetext.init_app(app)
    app.add_template_filter(date_fr)
    app.add_template_filter(datetime_fr)
    app.add_template_filter(date_court)
    from backoffice.storage import format_size

    app.add_template_filter(format_size, "taille")
    app.add_template_filter(definitions.step_label, "step_label")
    app.add_template_filter(definitions.status_label, "status_label")
    from backoffice.workflow.referentiels import profils_text

    app.add_template_filter(profils_text, "profils")
    app.jinja_env.globals["DEMARCHES"] = definitions.DEMARCHES
    from backoffice.workflow.form_blocks import DISPLAY_LABELS

    app.jinja_env.globals["FORM_LABELS"] = DISPLAY_LABELS  # _macros/form_data.html
    app.jinja_env.globals["STATUS_COLOURS"] = STATUS_COLOURS
    app.jinja_env.globals["can"] = can


def can(name: str, candidature: Any, *args: Any) -> bool:
    """`{% if can("form.liberer", candidature) %}`: the signed-in user passes the
    registered predicate of that transition (role and state), the very check its guard
    makes: a button is shown exactly when clicking it would work."""
    from flask_login import current_user

    from backoffice.workflow.base import allowed

    user = current_user._get_current_object()
    return bool(getattr(user, "is_authenticated", False)) and \
        allowed(name, user, candidature, *args)
