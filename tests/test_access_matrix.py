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
    for name, converter in rule._converters.items():
        values[name] = 1 if type(converter).__name__ == "IntegerConverter" else \
            SAMPLES.get(name, "x")
    return rule.build(values, append_unknown=False)[1]


def _routes(app):
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


def _call(client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    data = {"csrf_token": csrf_token(client, "/connexion" if not _logged(client) else "/")}
    return client.open(url, method=method, data=data)


def _logged(client) -> bool:
    return client.get("/").status_code == 302 and "/connexion" not in \
        client.get("/").headers.get("Location", "")


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_route_for_every_role(app, client, ctx, role) -> None:
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


# --- the collège's object scope (issue 15, finding 7) ---------------------------------------
# A collège member reads a DMN dossier and its files only while it is on the agenda of a
# séance they sit in, and afterwards for the séances they sat in; never the attachment of
# an internal note. Out of scope answers 404, as for an unknown reference.

SCOPE_TARGETS = ("on_agenda", "past_seance", "draft", "other_vendor",
                 "file_on_agenda", "file_past_seance", "file_draft", "file_other_vendor",
                 "note_attachment")
SCOPE_EXPECTED = {
    "member": {"on_agenda": 200, "past_seance": 200, "file_on_agenda": 200,
               "file_past_seance": 200},
    "outsider": {},  # a collège member who sits in no séance holding these dossiers
    "admin": {t: 200 for t in SCOPE_TARGETS if t != "note_attachment"},
    "verificateur": {t: 403 for t in SCOPE_TARGETS},
    "support": {t: 403 for t in SCOPE_TARGETS},
}


@pytest.fixture
def college_scope(ctx):
    from backoffice.db import db
    from backoffice.demo_files import one_page_pdf, store_bytes
    from backoffice.models import Message
    from tests.factories import CandidatureFactory
    from tests.security.seats import seat

    member = UserFactory(roles=["college"])
    users = {"member": member, "outsider": UserFactory(roles=["college"]),
             "admin": UserFactory(roles=["admin"]),
             "verificateur": UserFactory(roles=["verificateur"], teams=[TeamFactory(
                 parcours="dmn")]),
             "support": UserFactory(roles=["support"])}
    dossiers = {"on_agenda": CandidatureFactory(at="college", status_at_step="inscrite"),
                "past_seance": CandidatureFactory(at="college", status_at_step="a_programmer"),
                "draft": CandidatureFactory(at="recevabilite"),
                "other_vendor": CandidatureFactory(at="college", status_at_step="a_programmer")}
    seat([member], dossiers["on_agenda"])
    seat([member], dossiers["past_seance"], status="close")  # adjourned there
    seat([UserFactory(roles=["college"])], dossiers["other_vendor"])  # someone else's séance
    urls = {}
    for name, candidature in dossiers.items():
        urls[name] = f"/college/dossiers/{candidature.reference}"
        fichier = store_bytes(candidature, f"{name}.pdf", one_page_pdf(name))
        urls[f"file_{name}"] = f"/college/fichiers/{fichier.id}"
    secret = store_bytes(dossiers["on_agenda"], "note.pdf", one_page_pdf("Note interne"))
    db.add(Message(candidature_id=dossiers["on_agenda"].id, author_kind="ans",
                   author_id=users["verificateur"].id, kind="note_interne",
                   body="Pour l'équipe seulement", attachments=[secret]))
    urls["note_attachment"] = f"/college/fichiers/{secret.id}"
    db.commit()
    return users, urls


@pytest.mark.parametrize("who", list(SCOPE_EXPECTED))
def test_college_reads_only_the_dossiers_of_its_seances(client, college_scope, who) -> None:
    users, urls = college_scope
    login(client, users[who])
    answers = {target: client.get(urls[target]).status_code for target in SCOPE_TARGETS}
    expected = {target: SCOPE_EXPECTED[who].get(target, 404) for target in SCOPE_TARGETS}
    assert answers == expected
    logout(client)


def test_college_scope_anonymous_goes_to_the_login_page(client, college_scope) -> None:
    _users, urls = college_scope
    for target in SCOPE_TARGETS:
        response = client.get(urls[target])
        assert response.status_code == 302 and "/connexion" in response.headers["Location"]
