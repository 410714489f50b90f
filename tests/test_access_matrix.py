"""The access matrix: every route, for anonymous users and for each role, answers what its
declaration says — login page, 403, 401 for the API, or the page (here a 200, 400 or 404 on
made-up ids: never a 403 for an allowed role, never a 500)."""

from __future__ import annotations

import pytest
from werkzeug.routing import Rule

from tests.factories import TeamFactory, UserFactory
from tests.helpers import csrf_token, login, logout

ROLES = ("verificateur", "college", "support", "admin")
SAMPLES = {"reference": "ABCDEFGHI", "step": "recevabilite", "code": "INS", "section": "INS",
           "exigence": "INS 1.1", "number": "ANS-DMN-2026-000001", "questionnaire": "securite"}


def _url(rule: Rule) -> str:
    values = {}
    for name, converter in rule._converters.items():  # noqa: SLF001 - werkzeug's own map
        values[name] = 1 if type(converter).__name__ == "IntegerConverter" else \
            SAMPLES.get(name, "x")
    return rule.build(values, append_unknown=False)[1]


def _routes(app):  # noqa: ANN001, ANN202
    for rule in app.url_map.iter_rules():
        if rule.endpoint.endswith("static") or rule.endpoint == "api.openapi_document":
            continue
        view = app.view_functions[rule.endpoint]
        if rule.rule.startswith("/admin"):
            access = ("roles", ("admin",))
        else:
            access = getattr(view, "access", None)
        assert access is not None, rule.endpoint
        for method in ("GET", "POST", "PUT", "DELETE"):
            if method in rule.methods:
                yield rule, method, access


def _call(client, method: str, url: str):  # noqa: ANN001, ANN202
    if method == "GET":
        return client.get(url)
    data = {"csrf_token": csrf_token(client, "/connexion" if not _logged(client) else "/")}
    return client.open(url, method=method, data=data)


def _logged(client) -> bool:  # noqa: ANN001
    return client.get("/").status_code == 302 and "/connexion" not in \
        client.get("/").headers.get("Location", "")


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_route_for_every_role(app, client, ctx, role) -> None:  # noqa: ANN001
    if role:
        user = UserFactory(roles=[role])
        if role == "verificateur":
            user.teams = [TeamFactory(parcours="dmn")]
        user.secretaire = role == "college"  # preparing séances needs the flag too
        ctx.flush()
        login(client, user)
    seen = 0
    for rule, method, (kind, roles) in _routes(app):
        url = _url(rule)
        if rule.endpoint == "auth.login" and method == "POST":
            continue  # logging in is everyone's right, tested in test_auth
        if rule.endpoint == "auth.logout" and role:
            continue  # would end this test's session
        response = _call(client, method, url)
        status = response.status_code
        where = f"{method} {url} as {role or 'anonymous'}: {status}"
        assert status != 500, where
        if kind == "public":
            assert status not in (401, 403), where
        elif kind == "token":
            assert status == 401, where  # no session grants the API
        elif role is None:
            assert status == 302 and "/connexion" in response.headers["Location"], where
        elif roles and role not in roles:
            assert status == 403, where
        else:
            assert status != 403 and status != 401, where
        seen += 1
    assert seen > 80
    if role:
        logout(client)
