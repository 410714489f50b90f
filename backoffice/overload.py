"""Requests not worth processing any more are refused before the application sees them
(issue 19, item 6; docs/operations.md, "Production: overload").

nginx bounds the requests it hands to gunicorn (deploy/nginx/convergence.conf, upstream
`max_conns`) and answers the rest itself with the French 503 page. The few that do wait,
in gunicorn's queue of each worker, may wait for nothing: this WSGI middleware, the first
code a request meets, refuses

- a request whose client has gone: nginx closes its connection to gunicorn when its client
  disconnects (or when its own `proxy_read_timeout` runs out), so a closed socket
  (`environ["gunicorn.socket"]`, polled without waiting) means nobody will read the answer;
- a request that waited longer than REQUEST_QUEUE_TIMEOUT_SECONDS since nginx passed it on
  (`X-Request-Start: t=<seconds>`, nginx's `$msec`; believed only behind a trusted proxy):
  its user has most likely given up, and the threads are better spent on fresh requests.

Both get the same 503 page as nginx's (backoffice/static/erreurs/indisponible.html, JSON
for the API) with `Retry-After`, never reach Flask (no session, no database), and are
counted: a log line `request shed (<reason>)` and the Prometheus counter
`backoffice_requests_shed_total{reason}`. The probes are never refused.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask
from prometheus_client import Counter

from backoffice.frontdoor import REQUEST_ID, REQUEST_ID_HEADER
from backoffice.logs import ENVIRON_KEYS

log = logging.getLogger(__name__)

PAGE_PATH = Path(__file__).parent / "static" / "erreurs" / "indisponible.html"
# nginx gives the same value (deploy/nginx/convergence.conf)
RETRY_AFTER_SECONDS = 10
PROBE_PATHS = frozenset({"/sante", "/sante/pret"})
API_PREFIX = "/api/"
API_BODY = {"code": "service_unavailable",
            "message": "Le service est momentanément indisponible : réessayez dans un instant."}
HEADERS = [("Retry-After", str(RETRY_AFTER_SECONDS)), ("Cache-Control", "no-store"),
           ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
           ("Content-Security-Policy", "default-src 'self'; script-src 'none'; "
                                       "img-src 'self' data:; frame-ancestors 'none'")]
CLIENT_GONE, WAITED_TOO_LONG = "client_gone", "waited_too_long"

SHED = Counter("backoffice_requests_shed", "Requests refused with a 503 before being "
               "processed, per reason (client_gone, waited_too_long).", ["reason"],
               registry=None)

_POLLRDHUP = getattr(select, "POLLRDHUP", 0)  # Linux: the peer closed its side
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL | _POLLRDHUP


def client_gone(sock: Any) -> bool:
    """True when the peer has closed the connection (checked without waiting). A request
    whose body gunicorn has not read yet still shows the close on Linux (POLLRDHUP)."""
    try:
        fd = sock.fileno()
    except (OSError, ValueError):
        return True
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | _POLLRDHUP)
    events = poller.poll(0)
    if any(mask & _GONE for _fd, mask in events):
        return True
    if _POLLRDHUP or not events:
        return False
    try:  # without POLLRDHUP: readable with nothing to read is a close
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def request_start(value: str) -> float | None:
    """Seconds since the epoch from `t=1733250000.123` (nginx's $msec); milliseconds and
    microseconds (other proxies' habit) are recognised by their size."""
    text = value.strip()
    if text.startswith("t="):
        text = text[2:]
    try:
        started = float(text)
    except ValueError:
        return None
    if started != started or started <= 0:  # NaN, nonsense
        return None
    if started > 1e14:
        return started / 1e6
    if started > 1e11:
        return started / 1e3
    return started


class LoadShedding:
    """WSGI middleware around the whole application (outermost: before ProxyFix)."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], *, budget: float,
                 trust_proxy: bool) -> None:
        self.wsgi_app = wsgi_app
        self.budget = budget
        self.trust_proxy = trust_proxy
        self.page = PAGE_PATH.read_bytes()
        self.api_body = json.dumps(API_BODY, ensure_ascii=False).encode() + b"\n"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in PROBE_PATHS:
            return self.wsgi_app(environ, start_response)
        reason, waited = self.reason(environ)
        if reason is None:
            return self.wsgi_app(environ, start_response)
        return self.refuse(environ, start_response, reason, waited)

    def reason(self, environ: dict[str, Any]) -> tuple[str | None, float | None]:
        waited = None
        if self.trust_proxy:
            started = request_start(environ.get("HTTP_X_REQUEST_START", ""))
            if started is not None:
                waited = max(0.0, time.time() - started)
        sock = environ.get("gunicorn.socket")
        if sock is not None and client_gone(sock):
            return CLIENT_GONE, waited
        if self.budget > 0 and waited is not None and waited > self.budget:
            return WAITED_TOO_LONG, waited
        return None, waited

    def refuse(self, environ: dict[str, Any], start_response: Callable[..., Any],
               reason: str, waited: float | None) -> Iterable[bytes]:
        incoming = environ.get("HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_"), "")
        request_id = incoming if self.trust_proxy and REQUEST_ID.fullmatch(incoming) \
            else uuid.uuid4().hex
        environ[ENVIRON_KEYS["request_id"]] = request_id
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        SHED.labels(reason).inc()
        log.warning("request shed (%s): %s %s, %s in queue", reason, method, path,
                    "?" if waited is None else f"{waited:.3f} s",
                    extra={"request_id": request_id, "method": method, "path": path,
                           "status": 503})
        if path.startswith(API_PREFIX):
            body, kind = self.api_body, "application/json"
        else:
            body, kind = self.page, "text/html; charset=utf-8"
        start_response("503 Service Unavailable", [
            ("Content-Type", kind), ("Content-Length", str(len(body))),
            (REQUEST_ID_HEADER, request_id), *HEADERS])
        return [body]  # gunicorn sends no body to a HEAD


def init_app(app: Flask) -> None:
    """Call after frontdoor.init_app(): this middleware must wrap everything else."""
    app.wsgi_app = LoadShedding(  # type: ignore[method-assign]
        app.wsgi_app, budget=float(app.config.get("REQUEST_QUEUE_TIMEOUT_SECONDS") or 0),
        trust_proxy=bool(app.extensions.get("trusted_proxies")))
