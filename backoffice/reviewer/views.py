from __future__ import annotations

from flask import render_template
from flask_login import current_user

from backoffice.auth.access import roles_required
from backoffice.queues.overview import step_overview
from backoffice.reviewer import bp


@bp.route("/")
@roles_required("verificateur")
def home():
    parcours = current_user.parcours
    rows = step_overview(parcours)
    return render_template("reviewer/home.html", rows=rows, parcours=parcours)
