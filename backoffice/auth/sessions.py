"""Session lifetime (ANSSI / ASVS V7): idle timeout 30 minutes, absolute 12 hours, and
server-side invalidation: the cookie carries the account's session epoch, which logout,
password change and deactivation bump."""

from __future__ import annotations

import time

from flask import Flask, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user

IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 12 * 3600


def start(user) -> None:
    now = int(time.time())
    session["epoch"], session["login_at"], session["seen_at"] = user.session_epoch, now, now


def still_valid(user) -> bool:
    return session.get("epoch") == user.session_epoch


def invalidate(user) -> None:
    """Every session of this account ends (the caller commits)."""
    user.session_epoch = (user.session_epoch or 0) + 1


def init_app(app: Flask) -> None:
    @app.before_request
    def _expire():
        if request.endpoint in (None, "static") or not current_user.is_authenticated:
            return None
        now = int(time.time())
        idle = now - int(session.get("seen_at", 0))
        age = now - int(session.get("login_at", 0))
        if idle > IDLE_SECONDS or age > ABSOLUTE_SECONDS:
            logout_user()
            session.clear()
            flash("Votre session a expiré : reconnectez-vous.", "info")
            return redirect(url_for("auth.login", next=request.full_path
                                    if request.method == "GET" else None))
        session["seen_at"] = now
        return None
