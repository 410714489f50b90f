from flask import Blueprint, render_template

from backoffice.auth.access import roles_required

bp = Blueprint("support", __name__)


@bp.route("/")
@roles_required("support")
def home():
    return render_template("support/home.html")
