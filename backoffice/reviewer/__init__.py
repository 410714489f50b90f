from flask import Blueprint

bp = Blueprint("reviewer", __name__)

from backoffice.reviewer import (  # noqa: E402,F401
    activite,
    convention,
    decisions,
    dossier,
    exports,
    files,
    messagerie,
    pour_avis,
    preferences,
    saved_views,
    section_form,
    sections,
    views,
)
