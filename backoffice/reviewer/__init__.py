from flask import Blueprint

bp = Blueprint("reviewer", __name__)

from backoffice.reviewer import views  # noqa: E402,F401
