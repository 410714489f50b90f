"""Sessions end on logout even if the cookie is replayed, after 30 idle minutes, after 12
hours, and when an admin resets the password or deactivates the account."""

from __future__ import annotations

import time

from backoffice.auth.sessions import invalidate
from backoffice.db import db
from backoffice.models import User
from tests.factories import UserFactory
from tests.helpers import csrf_token, login


def _cookie(client) -> str:
    return client.get_cookie("backoffice_session").value


def test_a_cookie_replayed_after_logout_is_refused(client, ctx) -> None:
    login(client, UserFactory(roles=["support"]))
    assert client.get("/support/").status_code == 200
    stolen = _cookie(client)
    client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/")})
    client.set_cookie("backoffice_session", stolen)
    response = client.get("/support/")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_idle_and_absolute_timeouts(client, ctx) -> None:
    login(client, UserFactory(roles=["support"]))
    with client.session_transaction() as session:
        session["seen_at"] = int(time.time()) - 31 * 60
    response = client.get("/support/", follow_redirects=True)
    assert "Votre session a expiré" in response.get_data(as_text=True)
    assert client.get("/support/").status_code == 302

    login(client, UserFactory(roles=["support"]))
    with client.session_transaction() as session:
        session["login_at"] = int(time.time()) - 13 * 3600
    assert client.get("/support/").status_code == 302

    login(client, UserFactory(roles=["support"]))
    with client.session_transaction() as session:
        session["seen_at"] = int(time.time()) - 29 * 60  # still within the idle window
    assert client.get("/support/").status_code == 200


def test_password_change_ends_the_other_sessions(app, client, ctx) -> None:
    user = UserFactory(roles=["support"])
    login(client, user)
    assert client.get("/support/").status_code == 200
    invalidate(db.get(User, user.id))  # what the admin's password reset does
    db.flush()
    assert client.get("/support/").status_code == 302


def test_admin_reset_invalidates_sessions_through_the_form(app, client, ctx) -> None:
    target = UserFactory(roles=["college"])
    other = app.test_client()
    login(other, target)
    assert other.get("/college/").status_code == 200
    login(client, UserFactory(roles=["admin"]))
    client.post(f"/admin/user/edit/?id={target.id}", data={
        "email": target.email, "name": target.name, "active": "y", "roles": ["college"],
        "new_password": "un-nouveau-mot-de-passe",
        "csrf_token": csrf_token(client, f"/admin/user/edit/?id={target.id}")})
    assert other.get("/college/").status_code == 302
