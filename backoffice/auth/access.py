"""Server-side access control for views. Every view declares who may call it: a test
walks the URL map and fails on any view without a declaration."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user

from backoffice.extensions import login_manager

F = TypeVar("F", bound=Callable[..., Any])


def roles_required(*roles: str) -> Callable[[F], F]:
    """Anonymous -> login page; authenticated without one of `roles` -> 403."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.access = ("roles", roles)  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def login_required(view: F) -> F:
    """Any signed-in back-office user, whatever their role."""
    return roles_required()(view)


def public(view: F) -> F:
    view.access = ("public", ())  # type: ignore[attr-defined]
    return view
