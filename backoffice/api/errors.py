"""Every API error is JSON: {"code": "...", "message": "..."} with the right status."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from backoffice.api import bp
from backoffice.db import db
from backoffice.storage import StorageError
from backoffice.workflow.base import TransitionError

HTTP_CODES = {
    400: ("bad_request", "Requête invalide."),
    401: ("unauthorized", "Jeton d'accès absent, invalide ou révoqué."),
    403: ("forbidden", "Action non autorisée."),
    404: ("not_found", "Ressource introuvable."),
    405: ("method_not_allowed", "Méthode non autorisée sur cette ressource."),
    409: ("conflict", "Conflit : la ressource vient d'être modifiée, réessayez."),
    413: ("file_too_large", "La requête dépasse la taille maximale autorisée."),
    415: ("unsupported_media_type", "Type de contenu non accepté."),
    422: ("validation_error", "Données invalides."),
}


class ApiError(Exception):
    def __init__(self, status: int, code: str | None = None, message: str | None = None,
                 **details: Any) -> None:
        default_code, default_message = HTTP_CODES.get(status, ("error", "Erreur."))
        super().__init__(message or default_message)
        self.status, self.code = status, code or default_code
        self.message, self.details = message or default_message, details


def error_response(status: int, code: str, message: str, **details: Any):
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="convergence"'
    return response


def not_found(what: str = "Ressource introuvable.") -> ApiError:
    return ApiError(404, "not_found", what)


@bp.errorhandler(ApiError)
def _api_error(e: ApiError):
    db.rollback()
    return error_response(e.status, e.code, e.message, **e.details)


@bp.errorhandler(TransitionError)
def _transition_error(e: TransitionError):
    db.rollback()
    return error_response(e.http_status, e.code, e.message)


@bp.errorhandler(StorageError)
def _storage_error(e: StorageError):
    db.rollback()
    return error_response(e.http_status, e.code, e.message)


@bp.errorhandler(StaleDataError)
@bp.errorhandler(IntegrityError)
def _conflict(_e: Exception):
    db.rollback()
    return error_response(409, "conflict", HTTP_CODES[409][1])


@bp.errorhandler(DBAPIError)
def _locked(e: DBAPIError):
    """SQLite's writer lock held by a concurrent request: the same answer as a conflict."""
    db.rollback()
    if "locked" in str(e.orig).lower() or "could not serialize" in str(e.orig).lower():
        return error_response(409, "conflict", HTTP_CODES[409][1])
    raise e


@bp.errorhandler(HTTPException)
def _http(e: HTTPException):
    db.rollback()
    code, message = HTTP_CODES.get(e.code or 500, ("error", "Erreur."))
    return error_response(e.code or 500, code, message)
