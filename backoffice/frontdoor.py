"""What happens to every request before anything else (issue 14, items 4 and 7).

- **Behind a proxy.** `TRUSTED_PROXIES` hops (nginx: 1) are believed: Werkzeug's ProxyFix
  takes the client address, scheme and host from the last that many X-Forwarded-For,
  -Proto and -Host entries, so throttling, audit, logs and metrics see the real client.
  With 0 (the default) those headers are ignored: a client cannot choose its own address.
- **Request id.** Taken from the proxy's `X-Request-ID` when a proxy is trusted and the
  value is short and plain (nginx's `$request_id`: 32 hex digits), generated otherwise; in
  `g.request_id` (audit rows, logs), in the response, and in the WSGI environ for
  gunicorn's access log.
- **Probes.** `/sante` and `/sante/pret` are answered by this first hook, before the others
  (the session check would load the signed-in user from the database): liveness must not
  depend on the database, and readiness reports it instead of failing on it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue
from werkzeug.middleware.proxy_fix import ProxyFix

from backoffice.logs import ENVIRON_KEYS, current_user_id, identity

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# at most 64 characters (the audit column), letters, digits and . _ : -
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
PROBES = frozenset({"main.health", "main.ready"})


def trusted_proxies(app: Flask) -> int:
    hops = app.config.get("TRUSTED_PROXIES", 0)
    if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
        # production refuses to start on it (settings_check); elsewhere: trust nobody
        log.warning("TRUSTED_PROXIES=%r is not a number of proxies: no proxy trusted", hops)
        return 0
    return hops


def _begin() -> ResponseReturnValue | None:
    g.request_started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "") \
        if current_app.extensions["trusted_proxies"] else ""
    g.request_id = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    request.environ[ENVIRON_KEYS["request_id"]] = g.request_id
    request.environ[ENVIRON_KEYS["route"]] = request.endpoint
    if request.endpoint in PROBES:
        return current_app.ensure_sync(current_app.view_functions[request.endpoint])()
    return None


def _finish(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    environ = request.environ
    environ[ENVIRON_KEYS["user_id"]] = current_user_id()
    environ[ENVIRON_KEYS["organisation_id"]] = identity(g.get("organisation"))
    return response


def init_app(app: Flask) -> None:
    """Call last in create_app(): this hook must run before every other before_request."""
    hops = trusted_proxies(app)
    app.extensions["trusted_proxies"] = hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_finish)
