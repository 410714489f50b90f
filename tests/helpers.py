"""Shared test helpers."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.factories import PASSWORD, UserFactory

ROLES = ("verificateur", "college", "support", "admin")


def csrf_token(client: FlaskClient, path: str = "/connexion") -> str:
    """The CSRF token of the client's session, read from a rendered page."""
    html = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, user: Any, password: str = PASSWORD) -> None:
    response = client.post(
        "/connexion",
        data={"email": user.email, "password": password, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def logout(client: FlaskClient) -> None:
    client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/")})


class GetEndpointChecks:
    """Each GET endpoint's refusals: anonymous -> login page, wrong role -> 403.
    Subclasses set `path` and `allowed_roles`."""

    path: str
    allowed_roles: tuple[str, ...] = ()

    def test_anonymous_is_sent_to_login(self, client: FlaskClient) -> None:
        response = client.get(self.path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/connexion")

    def test_wrong_roles_are_forbidden(self, client: FlaskClient, ctx: Any) -> None:
        for role in (r for r in ROLES if r not in self.allowed_roles):
            login(client, UserFactory(roles=[role]))
            assert client.get(self.path).status_code == 403, role
            logout(client)

    def test_allowed_roles_get_the_page(self, client: FlaskClient, ctx: Any) -> None:
        for role in self.allowed_roles:
            login(client, UserFactory(roles=[role]))
            assert client.get(self.path).status_code == 200, role
            logout(client)


class PostEndpointChecks:
    """pass Culture's PostEndpointHelper: anonymous -> login page, wrong role -> 403,
    missing CSRF token -> 400. Subclasses set `path`, `allowed_roles` and `form`."""

    path: str
    allowed_roles: tuple[str, ...] = ()
    form: dict[str, Any] = {}

    def test_anonymous_is_sent_to_login(self, client: FlaskClient) -> None:
        data = {**self.form, "csrf_token": csrf_token(client)}
        response = client.post(self.path, data=data)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/connexion")

    def test_wrong_roles_are_forbidden(self, client: FlaskClient, ctx: Any) -> None:
        for role in (r for r in ROLES if r not in self.allowed_roles):
            login(client, UserFactory(roles=[role]))
            data = {**self.form, "csrf_token": csrf_token(client, "/")}
            assert client.post(self.path, data=data).status_code == 403, role
            logout(client)

    def test_missing_csrf_token_is_refused(self, client: FlaskClient, ctx: Any) -> None:
        login(client, UserFactory(roles=list(self.allowed_roles[:1])))
        response = client.post(self.path, data=dict(self.form))
        assert response.status_code == 400
        assert "formulaire a expiré" in response.get_data(as_text=True)


class audit_triggers_disabled:  # noqa: N801 - used as a context manager
    """Tamper with the audit trail as someone with the database owner's rights would:
    the application itself cannot (triggers refuse UPDATE and DELETE)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __enter__(self) -> None:
        from sqlalchemy import text

        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        else:
            self.session.execute(text("DROP TRIGGER audit_event_no_update"))
            self.session.execute(text("DROP TRIGGER audit_event_no_delete"))

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        else:
            from importlib import import_module

            migration = import_module(
                "migrations.versions.0002_lifecycle_referentiels_sections_files_"
            )
            for statement in migration.APPEND_ONLY_SQLITE:
                self.session.execute(text(statement))
