"""The one-time enrolment code of a second-factor reset (issue 15, finding 9).

Before, an administrator's reset let the password alone enrol a new authenticator: a
stolen password plus a reset (asked for by the thief, or routine) gave the thief the
account. Now the reset issues a one-time code, shown once to the administrator, who gives
it to the user out of band (in person, by phone). The user enters it with the password
before any new key is shown; it expires (ENROLMENT_CODE_HOURS, 72 by default) and only its
keyed hash is stored.

Redeeming the code turns it into a *grant* held by that login only (a random nonce in its
session, its hash in the account's row, valid for the activation step's 15 minutes), and
generates the new key then: a second login with the same password and code, even at the
same instant, gets nothing (the UPDATE that swaps the code's hash for the grant's is
conditional on the code's hash: one wins). Enrolment confirmed, the grant is cleared.

A new account (first login) enrols with its password as before: the password was just
given to its owner by the administrator who created the account."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, update
from sqlalchemy.orm.attributes import set_committed_value

from backoffice.db import db, utcnow
from backoffice.models import User

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: dictated over the phone
LENGTH = 12  # shown as XXXX-XXXX-XXXX; 31^12 ≈ 7.9e17, and attempts are throttled
GRANT_SECONDS = 15 * 60  # the activation step's time limit (auth/views.py)


def _digest(purpose: str, value: str) -> str:
    key = current_app.config["TOTP_ENCRYPTION_KEY"].encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _normalised(code: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", (code or "").upper())


def validity() -> timedelta:
    return timedelta(hours=float(current_app.config.get("ENROLMENT_CODE_HOURS", 72)))


def issue(user: User) -> str:
    """A new code for the user (any earlier one stops counting); returned in clear, to
    show once to the administrator."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    user.enrolment_code_hash = _digest("code", raw)
    user.enrolment_code_expires_at = utcnow() + validity()
    return "-".join(raw[i:i + 4] for i in range(0, LENGTH, 4))


def required(user: User) -> bool:
    return user.enrolment_code_hash is not None


def expired(user: User) -> bool:
    return user.enrolment_code_expires_at is not None and \
        user.enrolment_code_expires_at <= utcnow()


def redeem(user: User, code: str) -> str | None:
    """The code is right and current: swap it for a grant; returns the grant's nonce (to
    keep in the login's session), or None."""
    if user.enrolment_code_hash is None or expired(user):  # not required(user), or expired
        return None
    if not hmac.compare_digest(user.enrolment_code_hash, _digest("code", _normalised(code))):
        return None
    nonce = secrets.token_urlsafe(24)
    grant, until = _digest("grant", nonce), utcnow() + timedelta(seconds=GRANT_SECONDS)
    result = cast(CursorResult[Any], db.execute(  # an UPDATE's result: typed Result
        update(User)
        .where(User.id == user.id, User.enrolment_code_hash == user.enrolment_code_hash)
        .values(enrolment_code_hash=grant, enrolment_code_expires_at=until)
        .execution_options(synchronize_session=False)))
    if result.rowcount != 1:
        return None
    set_committed_value(user, "enrolment_code_hash", grant)
    set_committed_value(user, "enrolment_code_expires_at", until)
    return nonce


def granted(user: User, nonce: str | None) -> bool:
    """This login redeemed the code (and the grant has not run out)."""
    if not nonce or user.enrolment_code_hash is None or expired(user):
        return False  # no grant in this login, not required(user), or expired
    return hmac.compare_digest(user.enrolment_code_hash, _digest("grant", nonce))


def clear(user: User) -> None:
    user.enrolment_code_hash = None
    user.enrolment_code_expires_at = None
