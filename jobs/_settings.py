"""Settings read by the jobs that config.py does not (yet) define: the application's
config first (tests and config.py), then the environment, then the default. Every name
read here is listed in README's configuration table."""

from __future__ import annotations

import os
from typing import Any

from flask import current_app, has_app_context

_TRUE = {"1", "true", "yes", "on"}


def raw(name: str) -> Any:
    if has_app_context():
        value = current_app.config.get(name)
        if value is not None:
            return value
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def text(name: str, default: str | None = None) -> str | None:
    value = raw(name)
    return default if value is None else str(value)


def flag(name: str, default: bool = False) -> bool:
    value = raw(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def number(name: str, default: float) -> float:
    value = raw(name)
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} doit être un nombre (reçu : {value!r})") from error
