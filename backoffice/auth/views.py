"""Login in two steps: password, then the second factor (TOTP code or recovery code);
first login of an account: enrolment of an authenticator app. Throttled per account and
per address. Logout ends every session of the account."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select

from backoffice import audit
from backoffice.auth import bp, enrolment, sessions, totp
from backoffice.auth.access import login_required, public
from backoffice.auth.forms import CodeForm, EnrolmentCodeForm, LoginForm
from backoffice.auth.passwords import burn_time, hash_password, needs_rehash, verify_password
from backoffice.auth.throttle import message as throttle_message
from backoffice.auth.throttle import throttle
from backoffice.db import db, utcnow
from backoffice.models import User

BAD_CREDENTIALS = "Adresse électronique ou mot de passe incorrect."
BAD_CODE = "Code incorrect ou déjà utilisé. Saisissez le code affiché maintenant par votre " \
    "application, ou un code de secours."
BAD_ENROLMENT_CODE = ("Code d'activation incorrect ou déjà utilisé. Saisissez le code que "
                      "l'administrateur vous a remis lors de la réinitialisation.")
ENROLMENT_CODE_EXPIRED = ("Ce code d'activation a expiré. Demandez à un administrateur une "
                          "nouvelle réinitialisation de votre double authentification.")
PENDING_SECONDS = {"code": 5 * 60, "activation": 15 * 60}
_PENDING = "second_factor"


def _safe_next(target: str | None) -> str | None:
    """Only local paths: never redirect to another site after login."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _pending_user(step: str) -> User | None:
    """The account whose password was right, within the step's time limit."""
    pending = session.get(_PENDING)
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS[step]:
        return None
    user = db.get(User, pending.get("user"))
    if user is None or not user.active or user.session_epoch != pending.get("epoch"):
        return None
    return user


def _expired_pending():
    session.pop(_PENDING, None)
    flash("Votre connexion a expiré : saisissez de nouveau vos identifiants.", "info")
    return redirect(url_for("auth.login"))


def _locked(user: User) -> User:
    """The account's row, locked until the commit (one second-factor attempt at a time per
    account) and read afresh: the row was loaded earlier in the request, and without
    populate_existing the lock's fresh values would not replace the stale ones."""
    locked = db.scalar(select(User).where(User.id == user.id).with_for_update()
                       .execution_options(populate_existing=True))
    if locked is None:  # the account was deleted meanwhile
        abort(403)
    return locked


def _complete_login(user: User, reserved_address: str | None = None):
    nxt = session.get(_PENDING, {}).get("next")
    user.last_login_at = utcnow()
    audit.record(user, "auth.connexion", user)
    # auth exception (unitofwork.py): committed before the session is rotated and the
    # throttle forgets the address
    db.commit()
    throttle().success(user.email, reserved_address)
    session.clear()  # no fixation: a fresh session at login
    login_user(user)
    sessions.start(user)
    return _safe_next(nxt) or url_for("main.home")


@bp.route("/connexion", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        # the attempt is counted before the password is checked: parallel attempts cannot
        # all slip under the limit
        wait = throttle().reserve(email, request.remote_addr)
        if wait:
            form.email.errors.append(throttle_message(wait))
            return render_template("auth/login.html", form=form), 429
        user = db.scalar(select(User).where(func.lower(User.email) == email))
        if user is None:
            burn_time(form.password.data)
        if user is None or not verify_password(user.password_hash, form.password.data) \
                or not user.active:
            audit.record(None, "auth.echec_connexion", "user_account", after={"email": email})
            # auth exception: the failure is recorded although the page answers a refusal
            db.commit()
            form.password.errors.append(BAD_CREDENTIALS)
            return render_template("auth/login.html", form=form), 200
        throttle().give_back(email, request.remote_addr)  # right: not a failure
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(form.password.data)
            # auth exception: the rehash lands even if the second factor is never given
            db.commit()
        session.clear()
        session[_PENDING] = {"user": user.id, "at": int(time.time()), "epoch": user.session_epoch,
                             "next": _safe_next(request.args.get("next"))}
        step = "auth.second_factor" if totp.enrolled(user) else "auth.enrol"
        return redirect(url_for(step))
    return render_template("auth/login.html", form=form)


@bp.route("/connexion/code", methods=["GET", "POST"])
@public
def second_factor():
    user = _pending_user("code")
    if user is None:
        return _expired_pending()
    if not totp.enrolled(user):
        return redirect(url_for("auth.enrol"))
    form = CodeForm()
    if form.validate_on_submit():
        code = form.code.data.strip()
        address = request.remote_addr
        wait = throttle().reserve(user.email, address)
        if wait:
            form.code.errors.append(throttle_message(wait))
            return render_template("auth/code.html", form=form), 429
        user = _locked(user)
        if totp.verify_code(user, code):
            return redirect(_complete_login(user, address))
        if totp.looks_like_recovery_code(code) and totp.use_recovery_code(user, code):
            left = totp.recovery_codes_left(user)
            audit.record(user, "auth.code_secours_utilise", user, after={"restants": left})
            target = _complete_login(user, address)
            flash(f"Code de secours utilisé : il vous en reste {left}. Générez-en de nouveaux "
                  "depuis « Mon compte » si nécessaire.", "warning")
            return redirect(target)
        db.rollback()  # the reserved attempt stays counted: a failure
        audit.record(user, "auth.echec_second_facteur", user)
        # auth exception: the failed attempt is recorded although the page refuses
        db.commit()
        form.code.errors.append(BAD_CODE)
    return render_template("auth/code.html", form=form)


@bp.route("/connexion/activation", methods=["GET", "POST"])
@public
def enrol():
    user = _pending_user("activation")
    if user is None:
        return _expired_pending()
    if totp.enrolled(user):
        return redirect(url_for("auth.second_factor"))
    if enrolment.required(user) and \
            not enrolment.granted(user, session[_PENDING].get("enrolment_grant")):
        return _enrolment_code_step(user)
    form = CodeForm()
    if user.totp_secret is None or totp.secret_of(user) is None:
        totp.begin_enrolment(user)
        # auth exception (a GET may commit here): the key shown is the key stored
        db.commit()
    secret = totp.secret_of(user)
    if form.validate_on_submit():
        user = _locked(user)
        if totp.verify_code(user, form.code.data):
            codes = totp.confirm_enrolment(user)
            enrolment.clear(user)
            audit.record(user, "auth.double_authentification_activee", user)
            target = _complete_login(user)
            return render_template("auth/recovery_codes.html", codes=codes, next=target)
        db.rollback()
        form.code.errors.append("Code incorrect : saisissez le code à 6 chiffres affiché "
                                "maintenant par votre application.")
    uri = totp.provisioning_uri(user, secret)
    return render_template("auth/enrol.html", form=form, secret=secret,
                           qr=totp.qr_svg(uri))


def _enrolment_code_step(user: User):
    """After an administrator's reset: the one-time enrolment code they gave, before any
    new key is shown (auth/enrolment.py). Throttled like the other login steps."""
    form = EnrolmentCodeForm()
    if form.validate_on_submit():
        address = request.remote_addr
        wait = throttle().reserve(user.email, address)
        if wait:
            form.code_activation.errors.append(throttle_message(wait))
            return render_template("auth/enrolment_code.html", form=form), 429
        user = _locked(user)
        if enrolment.expired(user):
            db.rollback()
            form.code_activation.errors.append(ENROLMENT_CODE_EXPIRED)
            return render_template("auth/enrolment_code.html", form=form), 200
        nonce = enrolment.redeem(user, form.code_activation.data)
        if nonce is not None:
            totp.begin_enrolment(user)  # the new key exists only from now on
            audit.record(user, "auth.code_activation_utilise", user)
            # auth exception: the code is spent before the throttle gives the attempt back
            db.commit()
            throttle().give_back(user.email, address)
            session[_PENDING] = {**session[_PENDING], "enrolment_grant": nonce}
            return redirect(url_for("auth.enrol"))
        db.rollback()  # the reserved attempt stays counted: a failure
        audit.record(user, "auth.echec_code_activation", user)
        # auth exception: the failed attempt is recorded although the page refuses
        db.commit()
        form.code_activation.errors.append(BAD_ENROLMENT_CODE)
    return render_template("auth/enrolment_code.html", form=form)


@bp.route("/compte", methods=["GET", "POST"])
@login_required
def account():
    user = db.get(User, current_user.id)
    form = CodeForm()
    if form.validate_on_submit():
        user = _locked(user)
        if not totp.verify_code(user, form.code.data):
            db.rollback()
            form.code.errors.append(BAD_CODE.split(" Saisissez")[0] + ".")
        else:
            codes = totp.new_recovery_codes(user)
            audit.record(user, "auth.codes_secours_regeneres", user)
            # auth exception: the codes are stored before the page shows them once
            db.commit()
            return render_template("auth/recovery_codes.html", codes=codes,
                                   next=url_for("auth.account"))
    digest = None  # vérificateurs choose their notifications (reviewer/preferences.py)
    if user.has_role("verificateur"):
        from backoffice.reviewer.preferences import preferences_of

        preference = preferences_of(user.id)
        digest = bool(preference and preference.daily_digest)
    return render_template("auth/account.html", user=user, form=form,
                           codes_left=totp.recovery_codes_left(user), digest=digest)


@bp.route("/deconnexion", methods=["POST"])
@login_required
def logout():
    # the cookie would stay valid if replayed: end every session of the account server-side
    user = db.get(User, current_user.id)
    if user is None:
        abort(404)
    sessions.invalidate(user)
    audit.record(user, "auth.deconnexion", user)
    # auth exception: every session ends server-side before the cookie is cleared
    db.commit()
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))
