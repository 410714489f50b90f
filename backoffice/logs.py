"""Logging, configured in this one place (issue 14, item 7).

One handler on the root logger, writing to standard error (journald, the container's log):
JSON lines in production (`LOG_FORMAT=json`, the default when BACKOFFICE_ENV=production),
readable lines elsewhere. Every record made during a request carries the request's id, user,
route; gunicorn's access log goes through the same handler, one line per request with its
status and duration (`GunicornLogger`, gunicorn.conf.py). The web application, the job
worker and the CLI all call `configure()` through create_app(); gunicorn's master, which
starts before any application, calls it through its logger class.

What must never reach a log: SQL parameters (the engine is built with
`hide_parameters=True`, backoffice/db.py), passwords, tokens, TOTP codes. No code logs a
request body or its headers; the access log has the path without its query string; and
as a last net an API token or a bearer credential that slipped into a message is masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context, request

# Fields a record may carry (set by `extra=` or taken from the request), in output order.
CONTEXT_FIELDS = ("request_id", "user_id", "organisation_id", "route", "method", "path",
                  "status", "duration_ms", "bytes", "remote_addr", "user_agent")
# Keys of the WSGI environ through which the application tells gunicorn's access log who
# the request was for (the environ is the one object both see).
ENVIRON_KEYS = {"request_id": "backoffice.request_id", "user_id": "backoffice.user_id",
                "organisation_id": "backoffice.organisation_id",
                "route": "backoffice.route"}
_SECRETS = (
    (re.compile(r"cvg_[A-Za-z0-9_\-]{6,}"), "cvg_***"),  # organisation API tokens
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}"), r"\1 ***"),
)
# Loggers whose INFO is noise or a leak: SQLAlchemy's engine logs every statement at INFO;
# Alembic announces its plugins each time a migration context is made.
QUIET = {"sqlalchemy": logging.WARNING, "alembic.runtime.plugins": logging.WARNING}


def mask_secrets(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def identity(obj: Any) -> Any:
    """The primary key of an ORM object as its session knows it, without loading anything:
    a log call or an after-request hook must never query the database (the object may be
    expired by a commit or a rollback, or the database may be what failed)."""
    if obj is None:
        return None
    from sqlalchemy import inspect
    from sqlalchemy.exc import NoInspectionAvailable

    try:
        key = inspect(obj).identity
    except NoInspectionAvailable:  # Flask-Login's anonymous user
        return None
    return key[0] if key else None


def current_user_id() -> Any:
    """The signed-in user, if Flask-Login already loaded it (never loaded here)."""
    return identity(g.get("_login_user"))


def request_context() -> dict[str, Any]:
    if not has_request_context():
        return {}
    return {
        "request_id": g.get("request_id"),
        "user_id": current_user_id(),
        "organisation_id": identity(g.get("organisation")),
        "route": request.endpoint,
        "method": request.method,
        "path": request.path,
        "remote_addr": request.remote_addr,
    }


class RequestContextFilter(logging.Filter):
    """Adds the current request's fields to a record that does not carry them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in request_context().items():
            if getattr(record, key, None) is None and value is not None:
                setattr(record, key, value)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp, level, logger, message, then the request's
    fields when there is one, then the exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": _timestamp(record), "level": record.levelname,
            "logger": record.name, "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return mask_secrets(json.dumps(payload, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """`2026-03-01T10:00:00.123Z INFO    backoffice.x: message [request_id=… user_id=…]`"""

    SHOWN = ("request_id", "user_id", "organisation_id", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        context = " ".join(f"{key}={getattr(record, key)}" for key in self.SHOWN
                           if getattr(record, key, None) is not None)
        if context:
            line += f" [{context}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return mask_secrets(line)


class _StandardErrorHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test's capture, gunicorn's
    redirection), not to the stream that was there when logging was configured."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(fmt: str = "text", level: str = "INFO") -> logging.Handler:
    """Install (once) or update the root handler. Idempotent: create_app() runs it for
    every application it builds."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StandardErrorHandler)), None)
    if handler is None:
        handler = _StandardErrorHandler()
        handler.addFilter(RequestContextFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for name, quiet_level in QUIET.items():
        logging.getLogger(name).setLevel(quiet_level)
    return handler


def configure_app(config: Any) -> None:
    configure(str(config.get("LOG_FORMAT") or "text"), str(config.get("LOG_LEVEL") or "INFO"))


# --- gunicorn ------------------------------------------------------------------------------

try:  # gunicorn is a runtime dependency, but the CLI and the worker never need it
    from gunicorn.glogging import Logger as _GunicornBase
except ImportError:  # pragma: no cover
    _GunicornBase = object


class GunicornLogger(_GunicornBase):
    """gunicorn's logger (`logger_class` in gunicorn.conf.py): its error log and its access
    log go through the root handler above, in the same format as the application's. The
    access line carries what the application left in the environ: request id, user, route."""

    def setup(self, cfg: Any) -> None:
        from config import log_settings

        fmt, level = log_settings()
        configure(fmt, level)
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True
        self.error_log.setLevel(self.loglevel)
        self.access_log.setLevel(logging.INFO)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog:
            return
        status = getattr(resp, "status_code", None)
        if status is None:
            status = int(str(resp.status).split(None, 1)[0])
        fields: dict[str, Any] = {
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),  # never the query string
            "status": status,
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "bytes": getattr(resp, "sent", None),
            "remote_addr": environ.get("REMOTE_ADDR"),  # after ProxyFix: the client's
            "user_agent": (environ.get("HTTP_USER_AGENT") or "")[:200] or None,
        }
        for key, environ_key in ENVIRON_KEYS.items():
            fields[key] = environ.get(environ_key)
        self.access_log.info("%s %s %s", fields["method"], fields["path"], status,
                             extra=fields)
