from flask import Blueprint, redirect, url_for
from flask_login import current_user

from backoffice.auth.access import login_required

bp = Blueprint("main", __name__)

HOMES = {
    "admin": "admin.index",
    "verificateur": "reviewer.home",
    "college": "college.home",
    "support": "support.home",
}


@bp.route("/")
@login_required
def home():
    """Each role has its own home; a user with several roles lands on the first."""
    role = current_user.primary_role
    if role is None:
        return redirect(url_for("main.no_role"))
    return redirect(url_for(HOMES[role]))


@bp.route("/sans-role")
@login_required
def no_role():
    from flask import render_template

    return render_template("main/no_role.html")


# the probes (/sante, /sante/pret) and /metrics
from backoffice.main import health, metrics  # noqa: E402, F401
