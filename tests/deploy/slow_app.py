"""The application as production serves it, plus two routes of the overload tests
(tests/deploy/test_overload.py), never part of the product:

- `/_test/lent/<seconds>` holds its thread that long (a slow page), once it has written
  `lent` to OVERLOAD_TRACE;
- `/_test/trace/<name>` writes its name, one line, to the file OVERLOAD_TRACE: what the
  application really ran, whatever the client saw.

gunicorn: `tests.deploy.slow_app:app`."""

from __future__ import annotations

import os
import time

from flask import Blueprint

from backoffice import create_app
from backoffice.auth.access import public
from backoffice.settings_check import enforce

bp = Blueprint("overload_test", __name__, url_prefix="/_test")


@bp.route("/lent/<float:seconds>")
@public
def lent(seconds: float) -> dict[str, float]:
    with open(os.environ["OVERLOAD_TRACE"], "a") as out:
        out.write("lent\n")  # the test knows its thread is taken
    time.sleep(seconds)
    return {"slept": seconds}


@bp.route("/trace/<name>")
@public
def trace(name: str) -> dict[str, str]:
    with open(os.environ["OVERLOAD_TRACE"], "a") as out:
        out.write(name + "\n")
    return {"ran": name}


app = create_app()
app.register_blueprint(bp)
enforce(app, "web")
