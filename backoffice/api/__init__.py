"""The intake API (design.md, "Intake API"): the vendor portal's side, under /api/v1.

JSON, organisation tokens, errors with a stable `code` and a French `message`."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from backoffice.api import (  # noqa: E402,F401
    auth,
    candidatures,
    errors,
    files,
    messages,
    openapi,
    products,
    webhooks,
)
