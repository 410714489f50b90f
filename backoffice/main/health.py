"""The probes, answered in JSON, never with an error page (issue 14, item 7).

- `GET /sante`: liveness. 200 `{"status": "ok"}` while the process answers; it touches
  neither the database nor Redis (a database outage must not get every web process
  restarted by its supervisor).
- `GET /sante/pret`: readiness, for the load balancer. The database answers, its schema is
  at the migrations' head, Redis answers (when configured), the file store takes a file.
  200 when all do, 503 naming the failing part(s) otherwise.

Both are answered by the first request hook (backoffice/frontdoor.py), before the session
check, which would load the signed-in user from the database.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from flask import current_app, jsonify
from sqlalchemy import text

from backoffice.auth.access import public
from backoffice.main import bp

log = logging.getLogger(__name__)

OK = "ok"
SKIPPED = "non_verifie"
NOT_CONFIGURED = "non_configure"

# A probe runs every few seconds: a failure is logged when it starts and when it ends, not
# at every probe (per process: app.extensions["readiness_failing"]).
_failing_lock = threading.Lock()


@bp.route("/sante")
@public
def health():
    """Liveness: the process answers."""
    return {"status": "ok"}


def _database() -> str | None:
    engine = current_app.extensions["db_engine"]
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return None


def _schema() -> str | None:
    from backoffice.migrate import schema_problem

    return schema_problem(current_app.extensions["db_engine"])


def _redis() -> str | None:
    client = current_app.extensions.get("readiness_redis")
    if client is None:
        from redis import Redis

        client = Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=1,
                                socket_connect_timeout=1)
        current_app.extensions["readiness_redis"] = client
    client.ping()
    return None


def _storage() -> str | None:
    folder = Path(current_app.config["STORAGE_DIR"])
    if not folder.is_dir():
        return f"le dossier de stockage {folder} n'existe pas"
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".pret-") as probe:
        probe.write(b"ok")
        probe.flush()
    return None


MESSAGES = {
    "database": "base de données injoignable",
    "schema": "schéma de la base impossible à lire",
    "redis": "Redis injoignable",
    "storage": "stockage des fichiers inaccessible en écriture",
}


def _run(name: str, check: Callable[[], str | None]) -> dict[str, str]:
    try:
        problem = check()
        detail = problem
    except Exception as error:
        problem, detail = MESSAGES[name], f"{type(error).__name__}: {error}"
    with _failing_lock:
        _failing = current_app.extensions.setdefault("readiness_failing", {})
        was = _failing.get(name)
        if problem is None:
            _failing.pop(name, None)
        else:
            _failing[name] = problem
    if problem is None:
        if was is not None:
            log.warning("readiness: %s is back", name)
        return {"status": OK}
    if was is None:
        log.warning("readiness: %s failing: %s", name, detail)
    return {"status": "echec", "message": problem}


@bp.route("/sante/pret")
@public
def ready():
    """Readiness: database, schema, Redis (when configured), file store."""
    checks: dict[str, dict[str, str]] = {"database": _run("database", _database)}
    checks["schema"] = _run("schema", _schema) \
        if checks["database"]["status"] == OK else {"status": SKIPPED}
    checks["redis"] = _run("redis", _redis) \
        if current_app.config.get("REDIS_URL") else {"status": NOT_CONFIGURED}
    checks["storage"] = _run("storage", _storage)
    failing = [name for name, result in checks.items() if result["status"] == "echec"]
    body = {"status": "pret" if not failing else "indisponible", "failing": failing,
            "checks": checks}
    response = jsonify(body)
    response.status_code = 200 if not failing else 503
    response.headers["Cache-Control"] = "no-store"
    return response
