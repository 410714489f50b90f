"""The application as the benchmarks run it: `create_app()` plus two bench-only pieces,
never part of the product (bench/ is not packaged, and `create_app` knows nothing of it).

- `/_bench/session/<user id>` opens a signed-in session the way the login view does
  (`login_user` + `sessions.start`), without the login form and its second factor.
- `/_bench/admin/candidatures/`: the baseline, a default Flask-Admin `ModelView` of the
  candidature table (COUNT(*) for the pager, OFFSET paging), with one change: 50 rows a
  page like the queue, so that "page N" means the same depth on both.

Gunicorn: `gunicorn 'bench.app:create_bench_app()'` (DATABASE_URL etc. from the
environment, as for the real application)."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, abort, session
from flask_admin import Admin, AdminIndexView
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme
from flask_login import login_user

from backoffice import create_app
from backoffice.auth import sessions
from backoffice.auth.access import public
from backoffice.db import db
from backoffice.extensions import csrf
from backoffice.models import Candidature, User

PAGE_SIZE = 50
BASELINE_URL = "/_bench/admin/candidatures/"


class BaselineCandidatureView(ModelView):
    """Flask-Admin's defaults, 50 rows a page."""

    page_size = PAGE_SIZE


def _bench_blueprint() -> Blueprint:
    bp = Blueprint("bench", __name__, url_prefix="/_bench")

    @bp.route("/session/<int:user_id>")
    @public
    def open_session(user_id: int) -> Any:
        user = db.get(User, user_id)
        if user is None:
            abort(404)
        session.clear()
        login_user(user)
        sessions.start(user)
        return {"user": user.email}

    return bp


def create_bench_app(config: dict[str, Any] | None = None) -> Flask:
    if os.environ.get("BACKOFFICE_ENV", "development") == "production":
        raise RuntimeError("the bench application opens sessions without a password")
    app = create_app(config)
    bp = _bench_blueprint()
    app.register_blueprint(bp)
    csrf.exempt(bp)
    admin = Admin(app, name="Baseline", url="/_bench/admin", endpoint="bench_admin",
                  index_view=AdminIndexView(name="Baseline", endpoint="bench_admin",
                                            url="/_bench/admin"),
                  theme=Bootstrap4Theme())
    view = BaselineCandidatureView(Candidature, db, name="Candidatures",
                                   endpoint="bench_candidatures",
                                   url="/_bench/admin/candidatures")
    admin.add_view(view)
    app.extensions["bench_baseline_view"] = view
    return app


def baseline_sort_index(app: Flask, column: str = "created_at") -> int:
    """Flask-Admin's `?sort=` value for a list column."""
    view = app.extensions["bench_baseline_view"]
    return [name for name, _ in view._list_columns].index(column)
