"""The front door in a real browser: each demo account logs in and lands on its home;
the admin area is for admins only; pages pass axe-core's serious/critical checks."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import axe_violations, login, screenshot

pytestmark = pytest.mark.browser

HOMES = {
    "admin": ("/admin/", "Administration"),
    "verificateur": ("/instruction/", "Candidatures en cours"),
    "verificatrice.segur": ("/instruction/", "Candidatures en cours"),
    "college": ("/college/", "Collège de certification"),
    "support": ("/support/", "Support Convergence"),
}


def test_login_page_is_french_dsfr_and_accessible(page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/connexion\?next=%2F$"))
    expect(page.get_by_role("heading", name="Connexion au back-office")).to_be_visible()
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "Marianne" in font  # the DSFR stylesheet and its fonts are served
    assert axe_violations(page) == []
    screenshot(page, "connexion")


def test_wrong_password_shows_one_french_message(page, live_server) -> None:
    account = live_server.account("support")
    login(page, {**account, "password": "pas-le-bon"})
    message = page.get_by_text("Adresse électronique ou mot de passe incorrect.", exact=True)
    expect(message).to_be_visible()
    expect(page).to_have_url(re.compile("/connexion$"))


@pytest.mark.parametrize("who", list(HOMES))
def test_each_demo_account_lands_on_its_home(page, live_server, who) -> None:
    account = live_server.account(who)
    login(page, account)
    path, heading = HOMES[who]
    expect(page).to_have_url(live_server.url + path)
    expect(page.get_by_role("heading", name=heading).first).to_be_visible()
    expect(page.get_by_text(account["name"]).first).to_be_visible()
    assert axe_violations(page) == []  # the admin area too (issue 18, item 7)
    screenshot(page, f"accueil-{who}")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion")


def test_reviewer_home_shows_the_team_queues(page, live_server) -> None:
    login(page, live_server.account("verificateur"))
    rows = page.locator("#table-files tbody tr")
    expect(rows.first).to_be_visible()
    demarches = set(page.locator("#table-files tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.demarche)"))
    assert demarches and all(d.startswith("dmn_") for d in demarches)  # DMN team only


def test_admin_area_is_refused_to_others_with_a_dsfr_page(page, live_server) -> None:
    login(page, live_server.account("verificateur"))
    response = page.goto("/admin/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Accès refusé")).to_be_visible()
    assert axe_violations(page) == []


def test_admin_edits_a_campaign_window(page, live_server) -> None:
    login(page, live_server.account("admin"))
    response = page.goto("/admin/campaignwindow/edit/?id=1")
    assert response.status == 200
    page.locator("#closes_at").fill("2027-01-15T14:00")
    page.locator("input[type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("td", has_text="15 janvier 2027 14:00")).to_have_count(1)
    screenshot(page, "admin-campagnes")
    page.goto("/admin/user/")
    expect(page.get_by_text("verificateur@").first).to_be_visible()
    assert "$argon2" not in page.content()


def test_pages_work_under_the_content_security_policy(browser, live_server) -> None:
    """Without bypass_csp: the DSFR pages load their scripts, styles and fonts, and the
    browser reports no policy violation."""
    context = browser.new_context(base_url=live_server.url, locale="fr-FR")
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    try:
        login(page, live_server.account("verificateur"))
        page.goto("/instruction/file")
        page.wait_for_load_state("networkidle")
        assert "Marianne" in page.evaluate("getComputedStyle(document.body).fontFamily")
        # the DSFR's JavaScript ran (it marks the document once started)
        assert page.evaluate("document.documentElement.hasAttribute('data-fr-js')")
        assert violations == []
    finally:
        context.close()


def test_a_new_account_enrols_its_authenticator_then_needs_a_code(page, live_server) -> None:
    from backoffice.auth.passwords import hash_password
    from backoffice.db import db
    from backoffice.models import User

    email, password = "nouvelle.arrivee@ans.test.fr", "mot-de-passe-de-nouvelle"
    with live_server.app.app_context():
        if db.query(User).filter_by(email=email).first() is None:
            user = User(email=email, name="Nina Nouvelle", password_hash=hash_password(password))
            user.roles = {"support"}
            db.add(user)
            db.commit()
    account = {"email": email, "password": password}
    page.goto("/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/connexion/activation")
    expect(page.locator(".totp-qr svg")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "double-authentification-activation")
    page.get_by_role("button", name="Activer").click()  # no code: a French message
    message = page.get_by_text("Saisissez le code affiché par votre application.", exact=True)
    expect(message).to_be_visible()
    page.goto("/connexion")  # start again through the shared helper, which enrols
    login(page, account)
    expect(page).to_have_url(live_server.url + "/support/")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion")
    login(page, account)  # enrolled: now the code page
    expect(page).to_have_url(live_server.url + "/support/")
