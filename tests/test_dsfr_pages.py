"""DSFR completeness (issue 18, item 8): the footer's mandatory links and their pages (the
accessibility statement honest: « non conforme » until an audit), public pages with a
public header and footer whoever is signed in, a breadcrumb on every page below a home."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from tests.helpers import login_as

LEGAL = {"/accessibilite": "Déclaration d'accessibilité",
         "/mentions-legales": "Mentions légales",
         "/donnees-personnelles": "Données personnelles et cookies"}


@pytest.mark.parametrize("path", list(LEGAL))
def test_legal_pages_are_public_and_linked_from_every_footer(client, ctx, path) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert f"<h1>{LEGAL[path]}</h1>" in page.get_data(as_text=True)
    login_as(client, UserFactory(roles=["verificateur"]))
    for where in ("/instruction/", "/certificats", path):
        footer = client.get(where).get_data(as_text=True).split('<footer', 1)[1]
        assert f'href="{path}"' in footer, where


def test_accessibility_statement_says_non_conforme_until_an_audit(client, ctx) -> None:
    html = client.get("/accessibilite").get_data(as_text=True)
    assert "<strong>non conforme</strong>" in html
    assert "aucun audit" in html
    footer = client.get("/certificats").get_data(as_text=True).split("<footer", 1)[1]
    assert "Accessibilité : non conforme" in footer


@pytest.mark.parametrize("path", ["/certificats", "/statistiques/publiques",
                                  "/verify/ANS-DMN-2026-000001-ABCDE"])
def test_public_pages_wear_the_public_header_even_for_a_signed_in_agent(client, ctx,
                                                                         path) -> None:
    login_as(client, UserFactory(roles=["verificateur"], name="Véra Vérificatrice"))
    html = client.get(path).get_data(as_text=True)
    assert "Certificats Convergence" in html
    assert "Véra Vérificatrice" not in html and "Se déconnecter" not in html
    assert "Usage réservé aux agents" not in html
    # the agents' pages keep theirs
    agents = client.get("/compte").get_data(as_text=True)
    assert "Véra Vérificatrice" in agents and "Se déconnecter" in agents


@pytest.mark.parametrize(("role", "path"), [
    ("verificateur", "/instruction/sections"),
    ("verificateur", "/instruction/exports"),
    ("verificateur", "/instruction/file"),
    ("verificateur", "/compte"),
    ("verificateur", "/statistiques/"),
    ("college", "/college/seances/nouvelle"),
    (None, "/statistiques/publiques"),
    (None, "/verify/ANS-DMN-2026-000001-ABCDE"),
    (None, "/accessibilite"),
])
def test_every_page_below_a_home_has_a_breadcrumb(client, ctx, role, path) -> None:
    if role:
        login_as(client, UserFactory(roles=[role], secretaire=role == "college"))
    html = client.get(path).get_data(as_text=True)
    assert 'class="fr-breadcrumb"' in html, path
    assert 'aria-current="page"' in html.split('class="fr-breadcrumb"', 1)[1], path


def test_a_form_with_errors_summarises_them_at_the_top_with_links(client, ctx) -> None:
    from tests.helpers import csrf_token

    html = client.post("/connexion", data={"email": "", "password": "",
                                           "csrf_token": csrf_token(client)}
                       ).get_data(as_text=True)
    summary = html.split('bo-error-summary', 1)[1].split("</div>", 1)[0]
    assert "data-bo-focus" in summary
    assert '<a href="#email">Adresse électronique : ' in summary
    assert '<a href="#password">Mot de passe : ' in summary
    assert html.index("bo-error-summary") < html.index("<form method=\"post\" novalidate")


@pytest.mark.parametrize("signed_in", [False, True])
def test_the_legal_pages_keep_the_page_budget(client, ctx, query_recorder, signed_in) -> None:
    if signed_in:
        login_as(client, UserFactory(roles=["verificateur"]))
    for path in LEGAL:
        client.get(path)
        with query_recorder:
            assert client.get(path).status_code == 200
        assert query_recorder.count <= 8, (path, query_recorder.queries)
