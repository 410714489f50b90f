from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select

from backoffice import audit
from backoffice.auth import bp, sessions
from backoffice.auth.access import login_required, public
from backoffice.auth.forms import LoginForm
from backoffice.auth.passwords import burn_time, hash_password, needs_rehash, verify_password
from backoffice.db import db, utcnow
from backoffice.models import User

BAD_CREDENTIALS = "Adresse électronique ou mot de passe incorrect."


def _safe_next(target: str | None) -> str | None:
    """Only local paths: never redirect to another site after login."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/connexion", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.scalar(select(User).where(func.lower(User.email) == email))
        if user is None:
            burn_time(form.password.data)
        if user is None or not verify_password(user.password_hash, form.password.data) \
                or not user.active:
            audit.record(None, "auth.echec_connexion", "user_account", after={"email": email})
            db.commit()
            form.password.errors.append(BAD_CREDENTIALS)
            return render_template("auth/login.html", form=form), 200
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(form.password.data)
        user.last_login_at = utcnow()
        audit.record(user, "auth.connexion", user)
        db.commit()
        session.clear()  # no fixation: a fresh session at login
        login_user(user)
        sessions.start(user)
        return redirect(_safe_next(request.args.get("next")) or url_for("main.home"))
    return render_template("auth/login.html", form=form)


@bp.route("/deconnexion", methods=["POST"])
@login_required
def logout():
    # the cookie would stay valid if replayed: end every session of the account server-side
    user = db.get(User, current_user.id)
    sessions.invalidate(user)
    audit.record(user, "auth.deconnexion", user)
    db.commit()
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))
