from __future__ import annotations

from typing import Any

from flask import jsonify

from backoffice import uploads
from backoffice.api.idempotency import remember
from backoffice.db import db


def respond(body: Any, status: int = 200, *, commit: bool = True):  # noqa: ANN201
    """Commit the request's work once (with its idempotency record) and answer JSON."""
    if commit:
        remember(status, body)
        db.commit()
        uploads.committed()
    response = jsonify(body)
    response.status_code = status
    return response
