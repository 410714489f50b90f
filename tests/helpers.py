"""Shared test helpers."""

from __future__ import annotations

import re
import sys
import time
from typing import Any

from flask.testing import FlaskClient

from tests.factories import PASSWORD, UserFactory

# the production job worker (`make worker`), every queue; REDIS_URL etc. from the environment
WORKER = [sys.executable, "-m", "backoffice.worker"]

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
    """Both steps: password, then the current TOTP code of the (enrolled) user."""
    response = client.post(
        "/connexion",
        data={"email": user.email, "password": password, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/connexion/code", response.headers["Location"]
    response = client.post("/connexion/code", data={
        "code": totp_code(user), "csrf_token": csrf_token(client, "/connexion/code")})
    assert response.status_code == 302, response.get_data(as_text=True)


def login_as(client: FlaskClient, user: Any) -> None:
    """Logged in without the forms, for tests where the login is not what is tested: the
    session is written as `auth.views._complete_login` leaves it after both factors
    (Flask-Login's user id, then `sessions.start`'s epoch and times). The real two-step
    login keeps its own tests (test_auth.py, test_second_factor.py, security/) and `login`."""
    from flask_login.utils import _create_identifier

    from backoffice.db import db

    db.flush()
    db.commit()  # let go of the database (SQLite: the request must be able to write)
    now = int(time.time())
    # session_protection = "strong": the identifier of the client's address and user agent
    with client.application.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()
    with client.session_transaction() as session:
        session.clear()  # no fixation, as at a real login
        session.update({"_user_id": str(user.id), "_fresh": True, "_id": identifier,
                        "epoch": user.session_epoch, "login_at": now, "seen_at": now})


def clear_session(client: FlaskClient) -> None:
    """Logged out without the form (see `login_as`)."""
    with client.session_transaction() as session:
        session.clear()


def login_enrolling(client: FlaskClient, user: Any,
                    password: str = PASSWORD) -> tuple[str, list[str]]:
    """First login of an account: password, then enrolment with the key the page shows.
    Returns that key and the recovery codes shown once."""
    from backoffice.auth.totp import current_code

    response = client.post("/connexion", data={
        "email": user.email, "password": password, "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/connexion/activation"
    page = client.get("/connexion/activation").get_data(as_text=True)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    assert "<svg" in page  # the QR code, inline
    response = client.post("/connexion/activation", data={
        "code": current_code(secret), "csrf_token": csrf_token(client, "/connexion/activation")})
    assert response.status_code == 200, response.headers.get("Location")
    codes = re.findall(r'<code class="fr-text--lg">([a-z0-9]{5}-[a-z0-9]{5})</code>',
                       response.get_data(as_text=True))
    return secret, codes


def totp_code(user: Any) -> str:
    """The code an authenticator would show for the next unused 30 s step. Codes are
    single-use: when the steps a login may use are spent, the account's last step is
    moved back, as if a minute had passed."""
    from backoffice.auth.totp import STEP_SECONDS, current_code, secret_of
    from backoffice.db import db

    db.refresh(user)
    secret = getattr(user, "totp_plain_secret", None) or secret_of(user)
    now = int(time.time()) // STEP_SECONDS
    counter = max(now, (user.totp_last_counter or 0) + 1)
    if counter > now + 1:
        user.totp_last_counter = now - 2
        db.flush()
        counter = now
    db.commit()  # let go of the database (SQLite: the request must be able to write)
    return current_code(secret, at=counter * STEP_SECONDS)


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
            login_as(client, UserFactory(roles=[role]))
            assert client.get(self.path).status_code == 403, role
            clear_session(client)

    def test_allowed_roles_get_the_page(self, client: FlaskClient, ctx: Any) -> None:
        for role in self.allowed_roles:
            login_as(client, UserFactory(roles=[role]))
            assert client.get(self.path).status_code == 200, role
            clear_session(client)


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
            login_as(client, UserFactory(roles=[role]))
            data = {**self.form, "csrf_token": csrf_token(client, "/")}
            assert client.post(self.path, data=data).status_code == 403, role
            clear_session(client)

    def test_missing_csrf_token_is_refused(self, client: FlaskClient, ctx: Any) -> None:
        login_as(client, UserFactory(roles=list(self.allowed_roles[:1])))
        response = client.post(self.path, data=dict(self.form))
        assert response.status_code == 400
        assert "formulaire a expiré" in response.get_data(as_text=True)


class audit_triggers_disabled:
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


def pdf_text(data: bytes, tmp_path: Any) -> str:
    """The text poppler's pdftotext reads on the page (what lies past its edge is lost),
    whitespace folded: what a reader of the PDF sees."""
    import shutil
    import subprocess  # nosec B404 - a fixed command line, the tests' own file

    from tests.conftest import missing_tier

    if not shutil.which("pdftotext"):
        missing_tier("poppler's pdftotext is not installed")
    path = tmp_path / "document.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                         check=True, timeout=60)
    return " ".join(out.stdout.decode().split())
