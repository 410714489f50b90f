"""Second factor: TOTP (RFC 6238, 6 digits, 30 s) and single-use recovery codes.

- The secret is encrypted at rest (Fernet, key TOTP_ENCRYPTION_KEY, kept out of the
  database); it is written at enrolment but only counts once a first code confirms it.
- A code is accepted for the previous, current or next 30 s step (clock drift), and
  only for a step later than the last one accepted: no code works twice (ASVS 6.5.1),
  even when two logins post it at the same instant — the step is used up by a
  conditional UPDATE (`... WHERE totp_last_counter < :step`), which only one of them
  can win, on PostgreSQL as on SQLite.
- Ten recovery codes are shown once; only their keyed hashes are stored; each works
  once (used up the same way: `... WHERE used_at IS NULL`).
- An administrator can reset the second factor: the user enrols again, and must then
  enter a one-time enrolment code that the reset showed to the administrator (given to
  the user out of band; stored hashed; it expires), so that a stolen password alone
  cannot enrol the thief's authenticator (backoffice/auth/enrolment.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import secrets
import time
from typing import Any, cast

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm.attributes import set_committed_value

from backoffice.db import db, utcnow
from backoffice.models import RecoveryCode, User

STEP_SECONDS = 30
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def _fernet() -> Fernet:
    key = hashlib.sha256(current_app.config["TOTP_ENCRYPTION_KEY"].encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def _decrypt(token: str) -> str | None:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def secret_of(user: User) -> str | None:
    return _decrypt(user.totp_secret) if user.totp_secret else None


def enrolled(user: User) -> bool:
    return user.totp_enabled_at is not None and user.totp_secret is not None


def begin_enrolment(user: User) -> str:
    """A new secret for the user (not yet active); returns it in clear for the QR code."""
    secret = pyotp.random_base32()
    user.totp_secret = _encrypt(secret)
    user.totp_enabled_at = None
    user.totp_last_counter = None
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(
        name=user.email, issuer_name=current_app.config["TOTP_ISSUER"]
    )


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as inline SVG (no image request, nothing sent elsewhere)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=2, xmldecl=False,
                                    svgns=True, title="QR code d'enrôlement")
    return out.getvalue().decode()


def _counter(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // STEP_SECONDS)


def verify_code(user: User, code: str) -> bool:
    """Check a 6-digit code against the user's secret; on success the step is used up
    (the caller commits). Works for enrolment (secret not yet active) too."""
    code = re.sub(r"\s", "", code or "")
    secret = secret_of(user)
    if secret is None or not re.fullmatch(r"\d{6}", code):
        return False
    totp = pyotp.TOTP(secret)
    now = _counter()
    last = user.totp_last_counter if user.totp_last_counter is not None else -1
    for counter in (now - 1, now, now + 1):
        if counter > last and hmac.compare_digest(totp.generate_otp(counter), code):
            return _use_step(user, counter)
    return False


def _use_step(user: User, counter: int) -> bool:
    """Record `counter` as the last step used, only if no later or equal step was used
    meanwhile by a concurrent login (the database decides: one UPDATE wins)."""
    result = cast(CursorResult[Any], db.execute(  # an UPDATE's result: typed Result
        update(User)
        .where(User.id == user.id,
               (User.totp_last_counter.is_(None)) | (User.totp_last_counter < counter))
        .values(totp_last_counter=counter)
        .execution_options(synchronize_session=False)))
    if result.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_counter", counter)
    return True


def confirm_enrolment(user: User) -> list[str]:
    """The first code was right: the factor is active; returns new recovery codes."""
    user.totp_enabled_at = utcnow()
    return new_recovery_codes(user)


def reset(user: User) -> str:
    """Administrator's reset: the user enrols again at next login, with the one-time
    enrolment code returned here (to show once to the administrator)."""
    from backoffice.auth import enrolment

    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_counter = None
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    return enrolment.issue(user)


# --- recovery codes -----------------------------------------------------------------

def _hash_recovery(code: str) -> str:
    key = current_app.config["TOTP_ENCRYPTION_KEY"].encode()
    normalised = re.sub(r"[^a-z0-9]", "", code.lower())
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


def new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes; returns them in clear, to show once."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.add(RecoveryCode(user_id=user.id, code_hash=_hash_recovery(raw)))
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    """Use up one recovery code; a concurrent request using the same code loses (the
    UPDATE's condition `used_at IS NULL` lets exactly one of them through)."""
    result = cast(CursorResult[Any], db.execute(  # an UPDATE's result: typed Result
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None),
               RecoveryCode.code_hash == _hash_recovery(code))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)))
    return result.rowcount == 1


def recovery_codes_left(user: User) -> int:
    return len(db.scalars(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user.id,
                                      RecoveryCode.used_at.is_(None))
    ).all())


def looks_like_recovery_code(code: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9]{5}-?[a-z0-9]{5}", (code or "").strip().lower()))


def current_code(secret: str, at: float | None = None) -> str:
    """The code an authenticator app shows now (demo command and tests)."""
    return pyotp.TOTP(secret).generate_otp(_counter(at))


if __name__ == "__main__":  # `python -m backoffice.auth.totp KEY`: the demo's authenticator
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage : python -m backoffice.auth.totp <clé TOTP>")
    print(current_code(sys.argv[1].replace(" ", "").upper()))
