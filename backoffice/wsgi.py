"""The WSGI entry point of production: `gunicorn backoffice.wsgi:app` (gunicorn.conf.py,
deploy/systemd/convergence-web.service).

Unlike `backoffice:create_app()`, it checks the settings before serving: with
BACKOFFICE_ENV=production a missing or unsafe setting, or a schema not at the migrations'
head, stops the process with one French line per problem (backoffice/settings_check.py).
gunicorn.conf.py runs the same check once in gunicorn's master before it forks workers."""

from __future__ import annotations

from backoffice import create_app
from backoffice.settings_check import enforce

app = create_app()
enforce(app, "web")
