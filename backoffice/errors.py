"""DSFR error pages; JSON for the API."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from backoffice.db import db
from backoffice.domain import TransitionError

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Requête invalide", "La requête n'a pas pu être traitée."),
    403: ("Accès refusé", "Vous n'avez pas les droits nécessaires pour accéder à cette page."),
    404: ("Page non trouvée", "La page que vous cherchez est introuvable."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible sur cette page."),
    409: ("Conflit", "Quelqu'un d'autre vient de modifier ce dossier. Rechargez la page."),
    413: ("Fichier trop volumineux", "Le fichier dépasse la taille autorisée."),
    500: ("Erreur inattendue", "Une erreur est survenue de notre côté. Réessayez plus tard."),
}

CONSTRAINT_MESSAGE = ("L'enregistrement a été refusé : il entre en conflit avec des données "
                      "existantes (un doublon, ou une modification simultanée). Rien n'a été "
                      "enregistré ; rechargez la page, vérifiez et recommencez.")


def _render(code: int, detail: str | None = None):
    title, message = MESSAGES.get(code, (f"Erreur {code}", "Une erreur est survenue."))
    if request.path.startswith("/api/"):
        from backoffice.api.errors import HTTP_CODES, error_response

        api_code, api_message = HTTP_CODES.get(code, ("server_error", "Erreur inattendue."))
        return error_response(code, api_code, api_message)
    return render_template("errors/error.html", code=code, title=title,
                           message=detail or message), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(_e: CSRFError):
        return _render(400, "Le formulaire a expiré ou n'est pas valide. "
                            "Rechargez la page et recommencez.")

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        return _render(e.code or 500)

    @app.errorhandler(TransitionError)
    def _refused(e: TransitionError):
        """A domain refusal no view caught (an unknown step in a stale link): its French
        message, never a 500 (the API blueprint answers its own JSON first)."""
        db.rollback()
        if request.path.startswith("/api/"):
            from backoffice.api.errors import error_response

            return error_response(e.http_status, e.code, e.message)
        title = "Action refusée" if e.http_status != 403 else MESSAGES[403][0]
        return render_template("errors/error.html", code=e.http_status, title=title,
                               message=e.message), e.http_status

    @app.errorhandler(IntegrityError)
    def _constraint(e: IntegrityError):
        """A database constraint refused the change (a duplicate, a race two checks could
        not see): the whole transaction is rolled back, the user gets a French message."""
        log.warning("constraint violation on %s %s: %s", request.method, request.path,
                    e.orig)
        db.rollback()
        if request.path.startswith("/api/"):  # (the API blueprint answers its own first)
            from backoffice.api.errors import HTTP_CODES, error_response

            return error_response(409, "conflict", HTTP_CODES[409][1])
        return render_template("errors/error.html", code=409, title="Enregistrement refusé",
                               message=CONSTRAINT_MESSAGE), 409

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.rollback()
        if app.config.get("PROPAGATE_EXCEPTIONS_IN_TESTS"):
            raise e
        return _render(500)
