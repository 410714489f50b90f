"""Organisation API tokens for the intake API: `cvg_` + 256 random bits, of which only the
SHA-256 is kept (backoffice/api/auth.py checks it); the raw token is shown once."""

from __future__ import annotations

import secrets

from backoffice.api.auth import hash_token
from backoffice.models import ApiToken, Organisation


def new_api_token(organisation: Organisation, name: str) -> tuple[ApiToken, str]:
    """A token for `organisation` (not added to the session) and its raw value."""
    raw = "cvg_" + secrets.token_urlsafe(32)
    token = ApiToken(organisation=organisation, name=name, prefix=raw[:10],
                     token_hash=hash_token(raw))
    return token, raw
