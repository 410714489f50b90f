"""Every view declares who may call it, and each role lands on its own home."""

from __future__ import annotations

import pytest

from tests.factories import TeamFactory, UserFactory
from tests.helpers import GetEndpointChecks, login


def test_every_view_declares_its_access(app) -> None:
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/admin"):
            continue  # static files; Flask-Admin views check is_accessible (tested below)
        view = app.view_functions[rule.endpoint]
        if not hasattr(view, "access"):
            undeclared.append(rule.endpoint)
    assert undeclared == []


def test_admin_views_all_refuse_non_admins(app) -> None:
    admin = app.extensions["admin"][0]
    for view in admin._views:
        assert view.is_accessible.__func__.__qualname__.startswith("Secure"), view


@pytest.mark.parametrize(
    ("role", "home", "marker"),
    [
        ("verificateur", "/instruction/", "Candidatures en cours"),
        ("college", "/college/", "Collège de certification"),
        ("support", "/support/", "Support Convergence"),
        ("admin", "/admin/", "Administration"),
    ],
)
def test_each_role_lands_on_its_home(client, ctx, role, home, marker) -> None:
    login(client, UserFactory(roles=[role], name="Prénom Nom"))
    response = client.get("/", follow_redirects=True)
    assert response.request.path == home
    html = response.get_data(as_text=True)
    assert marker in html
    if role != "admin":  # Flask-Admin keeps its own layout
        assert "Prénom Nom" in html
        assert "Se déconnecter" in html


def test_navigation_shows_only_the_roles_areas(client, ctx) -> None:
    login(client, UserFactory(roles=["verificateur", "support"]))
    html = client.get("/instruction/").get_data(as_text=True)
    assert 'href="/support/"' in html
    assert 'href="/college/"' not in html
    assert 'href="/admin/"' not in html


def test_user_without_role_is_told_so(client, ctx) -> None:
    login(client, UserFactory(roles=[]))
    response = client.get("/", follow_redirects=True)
    assert "Aucun rôle attribué" in response.get_data(as_text=True)


def test_admin_area_is_for_admins_only(client, ctx) -> None:
    assert client.get("/admin/").status_code == 302
    for role in ("verificateur", "college", "support"):
        login(client, UserFactory(roles=[role]))
        assert client.get("/admin/").status_code == 403
        assert client.get("/admin/user/").status_code == 403
        client.post("/deconnexion", data={"csrf_token": _token(client)})
    login(client, UserFactory(roles=["admin"]))
    for path in ("/admin/", "/admin/user/", "/admin/team/", "/admin/organisation/",
                 "/admin/demarche/", "/admin/campaignwindow/", "/admin/apitoken/",
                 "/admin/delayrule/", "/admin/piecetype/", "/admin/messagetemplate/",
                 "/admin/referentiel/", "/admin/referentielexigence/", "/admin/profil/"):
        assert client.get(path).status_code == 200, path


def _token(client) -> str:
    from tests.helpers import csrf_token

    return csrf_token(client, "/")


def test_error_pages_are_french_and_styled(client, ctx) -> None:
    login(client, UserFactory(roles=["support"]))
    response = client.get("/nulle-part")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page non trouvée" in html and "fr-container" in html
    forbidden = client.get("/college/")
    assert forbidden.status_code == 403
    assert "Accès refusé" in forbidden.get_data(as_text=True)


def test_unexpected_error_gives_the_french_500_page(app, client, ctx) -> None:
    from backoffice.auth.access import public

    @public
    def boom():
        raise RuntimeError("boom")

    app.view_functions["main.health"], saved = boom, app.view_functions["main.health"]
    app.testing, saved_testing = False, app.testing
    try:
        response = client.get("/sante")
    finally:
        app.view_functions["main.health"] = saved
        app.testing = saved_testing
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Erreur inattendue" in html
    assert "RuntimeError" not in html and "Traceback" not in html


def test_health_endpoint_checks_the_database(client) -> None:
    assert client.get("/sante").get_json() == {"status": "ok"}


class TestReviewerHome(GetEndpointChecks):
    path = "/instruction/"
    allowed_roles = ("verificateur",)


class TestCollegeHome(GetEndpointChecks):
    path = "/college/"
    allowed_roles = ("college", "admin")  # admins prepare séances too


class TestSupportHome(GetEndpointChecks):
    path = "/support/"
    allowed_roles = ("support",)


def test_reviewer_home_counts_only_the_teams_parcours(client, ctx) -> None:
    from tests.factories import CandidatureFactory

    segur = TeamFactory(parcours="segur")
    for _ in range(3):
        CandidatureFactory(demarche_code="sons_sas", at="eligibilite")
    CandidatureFactory(demarche_code="sons_sas", at="depot", status_at_step="complements_demandes")
    CandidatureFactory(demarche_code="dmn_pecan", at="recevabilite")
    login(client, UserFactory(roles=["verificateur"], teams=[segur]))
    html = client.get("/instruction/").get_data(as_text=True)
    assert 'data-demarche="sons_sas" data-step="eligibilite"' in html
    assert 'data-demarche="dmn_pecan"' not in html
    row = html.split('data-step="eligibilite"')[1].split("</tr>")[0]
    assert ">3</a>" in row  # three to take, three in total
    depot = html.split('data-step="depot"')[1].split("</tr>")[0]
    assert "tour=industriel" in depot and ">1</a>" in depot  # waiting on the vendor


class TestCollegeSeanceNew(GetEndpointChecks):
    """Wrong roles are refused; the page itself needs the secretary flag (tested apart)."""

    path = "/college/seances/nouvelle"
    allowed_roles = ("college", "admin")

    def test_allowed_roles_get_the_page(self, client, ctx) -> None:
        from tests.helpers import logout

        plain = UserFactory(roles=["college"])
        login(client, plain)
        assert client.get(self.path).status_code == 403  # not a secretary
        logout(client)
        plain.secretaire = True
        ctx.flush()
        login(client, plain)
        assert client.get(self.path).status_code == 200
        logout(client)
        login(client, UserFactory(roles=["admin"]))
        assert client.get(self.path).status_code == 200


def test_public_pages_need_no_account(client) -> None:
    assert client.get("/certificats").status_code == 200
    assert client.get("/verify/ANS-DMN-2026-000001").status_code == 404
