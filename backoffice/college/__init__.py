from flask import Blueprint, render_template

from backoffice.auth.access import roles_required

bp = Blueprint("college", __name__)


@bp.route("/")
@roles_required("college")
def home():
    return render_template("college/home.html")
