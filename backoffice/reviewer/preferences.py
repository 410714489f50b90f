"""Notification preferences of « Mon compte » (issue 18, item 1): the opt-in daily digest
of what changed on my dossiers (jobs/activite.py sends it)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user

from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.models import NotificationPreference
from backoffice.reviewer import bp


def preferences_of(user_id: int) -> NotificationPreference | None:
    return db.get(NotificationPreference, user_id)


@bp.route("/compte/notifications", methods=["POST"])
@roles_required("verificateur")
def notifications():
    preference = preferences_of(current_user.id)
    if preference is None:
        preference = NotificationPreference(user_id=current_user.id)
        db.add(preference)
    preference.daily_digest = request.form.get("resume_quotidien") == "1"
    flash("Vous recevrez chaque matin le résumé de l'activité de vos dossiers."
          if preference.daily_digest else
          "Vous ne recevrez plus le résumé quotidien de l'activité de vos dossiers.", "success")
    return redirect(url_for("auth.account") + "#notifications")
