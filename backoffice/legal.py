"""The pages every State service links from its footer (DSFR, mandatory): the
accessibility statement, the legal notice and the personal data notice. Public: they are
read before signing in. The accessibility statement says « non conforme » until an RGAA
audit has been made (the law's wording for a service never audited)."""

from __future__ import annotations

from flask import Blueprint, render_template

from backoffice.auth.access import public

bp = Blueprint("legal", __name__)


@bp.route("/accessibilite")
@public
def accessibilite():
    return render_template("legal/accessibilite.html")


@bp.route("/mentions-legales")
@public
def mentions_legales():
    return render_template("legal/mentions_legales.html")


@bp.route("/donnees-personnelles")
@public
def donnees_personnelles():
    return render_template("legal/donnees_personnelles.html")
