from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import select

from backoffice.models import AuditEvent
from tests.factories import PASSWORD, UserFactory
from tests.helpers import (
    PostEndpointChecks,
    clear_session,
    csrf_token,
    login,
    login_as,
    totp_code,
)

BAD = "Adresse électronique ou mot de passe incorrect."


def _post_login(client, email, password):
    return client.post(
        "/connexion",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
    )


def _post_code(client, user):
    return client.post("/connexion/code", data={
        "code": totp_code(user), "csrf_token": csrf_token(client, "/connexion/code")})


def test_login_page_is_french_and_dsfr(client) -> None:
    html = client.get("/connexion").get_data(as_text=True)
    assert '<html lang="fr"' in html
    assert "Connexion au back-office" in html
    assert "dsfr/dsfr.min.css" in html
    assert "Convergence — back-office" in html


def test_good_credentials_log_in_and_land_on_the_role_home(client, ctx) -> None:
    user = UserFactory(email="Victor@ANS.test.fr", roles=["verificateur"])
    response = _post_login(client, "  victor@ans.test.fr ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/connexion/code"
    assert client.get("/instruction/").status_code == 302  # not signed in before the code
    response = _post_code(client, user)
    assert response.headers["Location"] == "/"
    home = client.get("/", follow_redirects=True)
    assert home.request.path == "/instruction/"
    assert user.name in home.get_data(as_text=True)
    events = ctx.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == user.id)).all()
    assert "auth.connexion" in events


def test_wrong_password_and_unknown_account_get_the_same_answer(client, ctx) -> None:
    UserFactory(email="known@ans.test.fr")
    wrong = _post_login(client, "known@ans.test.fr", "not the password")
    unknown = _post_login(client, "nobody@ans.test.fr", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert BAD in response.get_data(as_text=True)
        assert "backoffice_session" not in (response.headers.get("Set-Cookie") or "") or \
            client.get("/").status_code == 302
    # The page differs only by the e-mail typed back into the field.
    assert wrong.get_data(as_text=True).replace("known@", "X@").count(BAD) == \
        unknown.get_data(as_text=True).replace("nobody@", "X@").count(BAD)
    assert client.get("/instruction/").status_code == 302


def test_deactivated_account_cannot_log_in_and_loses_its_session(client, ctx) -> None:
    user = UserFactory(roles=["support"])
    login(client, user)
    assert client.get("/support/").status_code == 200
    user.active = False
    ctx.flush()
    assert client.get("/support/").status_code == 302  # the session no longer counts
    response = _post_login(client, user.email, PASSWORD)
    assert BAD in response.get_data(as_text=True)


def test_empty_fields_get_french_messages_next_to_them(client) -> None:
    response = _post_login(client, "", "")
    html = response.get_data(as_text=True)
    assert "Saisissez votre adresse électronique." in html
    assert "Saisissez votre mot de passe." in html
    assert "fr-input-group--error" in html


def test_passwords_are_hashed_with_argon2id(ctx) -> None:
    user = UserFactory()
    assert user.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(user.password_hash, PASSWORD)


def test_session_cookie_flags(client, ctx, app) -> None:
    user = UserFactory()
    response = _post_login(client, user.email, PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert app.config["SESSION_COOKIE_SECURE"] is False  # tests run as local development


def test_secure_cookie_outside_development(monkeypatch) -> None:
    from config import Config

    monkeypatch.setenv("BACKOFFICE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    assert Config().SESSION_COOKIE_SECURE is True
    monkeypatch.setenv("BACKOFFICE_ENV", "development")
    assert Config().SESSION_COOKIE_SECURE is False


def test_next_parameter_never_leaves_the_site(client, ctx) -> None:
    user = UserFactory(roles=["support"])
    for target, expected in (("/support/", "/support/"), ("https://evil.example/", "/"),
                             ("//evil.example/", "/")):
        client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/")})
        response = client.post(
            f"/connexion?next={target}",
            data={"email": user.email, "password": PASSWORD,
                  "csrf_token": csrf_token(client)},
        )
        assert response.headers["Location"] == "/connexion/code"
        assert _post_code(client, user).headers["Location"] == expected


def test_login_without_csrf_token_is_refused(client, ctx) -> None:
    user = UserFactory()
    response = client.post("/connexion", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/instruction/").status_code == 302


def test_logout_ends_the_session(client, ctx) -> None:
    login(client, UserFactory(roles=["college"]))
    assert client.get("/college/").status_code == 200
    response = client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/")})
    assert response.headers["Location"] == "/connexion"
    assert client.get("/college/").status_code == 302


class TestLogoutEndpoint(PostEndpointChecks):
    path = "/deconnexion"
    allowed_roles = ("verificateur", "college", "support", "admin")

    def test_wrong_roles_are_forbidden(self, client, ctx) -> None:
        """Every role may log out: nothing to refuse."""
        login(client, UserFactory(roles=["college"]))
        response = client.post(self.path, data={"csrf_token": csrf_token(client, "/")})
        assert response.status_code == 302


def test_login_as_writes_the_session_a_real_login_leaves(client, ctx, app) -> None:
    """tests.helpers.login_as stands for the two-step login in other tests: the same keys
    and values (but the times), so that it cannot drift from what the views write."""
    user = UserFactory(roles=["support"])
    login(client, user)
    with client.session_transaction() as session:
        real = dict(session)
    clear_session(client)
    assert client.get("/support/").status_code == 302  # logged out
    login_as(client, user)
    with client.session_transaction() as session:
        fast = dict(session)
    times = {"login_at", "seen_at"}
    assert {k: v for k, v in fast.items() if k not in times} == \
        {k: v for k, v in real.items() if k not in times | {"csrf_token"}}
    assert client.get("/support/").status_code == 200
