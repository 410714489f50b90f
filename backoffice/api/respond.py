from __future__ import annotations

from typing import Any

from flask import jsonify

from backoffice.api.idempotency import remember


def respond(body: Any, status: int = 200, *, commit: bool = True):
    """Answer JSON; `commit`: the answer is the outcome of the request's work, recorded
    with it under its idempotency key (the request's unit of work commits both at once,
    backoffice/unitofwork.py). False for reads and replays."""
    if commit:
        remember(status, body)
    response = jsonify(body)
    response.status_code = status
    return response
