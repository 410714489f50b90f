from flask import Blueprint

from backoffice.extensions import login_manager

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def _load_user(user_id: str):
    """Deactivated accounts lose their sessions at the next request."""
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from backoffice.db import db
    from backoffice.models import User

    try:
        # roles and teams in the same query: every page needs them
        user = db.scalars(select(User).where(User.id == int(user_id))
                          .options(joinedload(User.role_rows), joinedload(User.teams))
                          ).unique().first()
    except (TypeError, ValueError):
        return None
    from backoffice.auth.sessions import still_valid

    if user is None or not user.active or not still_valid(user):
        return None
    return user


from backoffice.auth import views  # noqa: E402,F401
