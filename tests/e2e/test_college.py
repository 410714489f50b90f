"""A séance of the collège in a real browser: two members vote, one declares a conflict,
the président records a favourable decision; the certificate job runs; the vendor's thread
says so; /verify says valid, then withdrawn after an admin's withdrawal."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.auth.passwords import hash_password
from backoffice.db import db
from backoffice.models import Candidature, Certificat, Message, Seance, User
from tests.e2e.conftest import RESULTS, axe_violations, confirm, login, screenshot

pytestmark = pytest.mark.browser
PASSWORD = "mot-de-passe-du-college"


def _members(live_server) -> list[dict]:
    """Test set-up: two more collège members with known passwords."""
    accounts = []
    with live_server.app.app_context():
        for login_name, name in (("membre.a", "Marc Membre"), ("membre.b", "Nadia Membre")):
            email = f"{login_name}@ans.test.fr"
            if db.scalar(select(User).where(User.email == email)) is None:
                user = User(email=email, name=name, password_hash=hash_password(PASSWORD))
                user.roles = {"college"}
                db.add(user)
            accounts.append({"email": email, "password": PASSWORD, "name": name})
        db.commit()
    return accounts


def started_an_hour_ago() -> str:
    """A séance's start, typed in Paris time: votes are refused before it."""
    return (datetime.now(ZoneInfo("Europe/Paris")) - timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M")


def _logout(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion")


def test_a_seance_decides_and_the_certificate_is_issued(page, live_server) -> None:
    member_a, member_b = _members(live_server)
    president = live_server.account("college")

    login(page, president)
    page.get_by_role("link", name="Créer une séance").click()
    page.get_by_label("Libellé *").fill("Séance e2e")
    page.get_by_label("Date et heure (heure de Paris) *").fill(started_an_hour_ago())
    for name in (president["name"], member_a["name"], member_b["name"]):
        page.locator("label", has_text=name).click()
    page.select_option("#president", label=president["name"])
    page.get_by_label("Quorum").fill("2")
    page.get_by_role("button", name="Créer la séance").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Séance créée.")).to_be_visible()
    seance_url = page.url
    reference = page.locator("#reference option").first.get_attribute("value")
    page.get_by_role("button", name="Inscrire").click()
    page.wait_for_load_state("networkidle")
    item = page.locator(f'section[data-reference="{reference}"]')
    item.locator("label", has_text="Favorable").first.click()
    item.get_by_role("button", name="Voter").click()
    page.wait_for_load_state("networkidle")
    assert axe_violations(page) == []
    _logout(page)

    login(page, member_a)
    page.goto(seance_url)
    page.locator(f'section[data-reference="{reference}"]').get_by_role(
        "link", name="Déclarer un conflit d'intérêts").click()
    # a second step: the reason and a confirmation, refused without them
    with page.expect_navigation():
        page.get_by_role("button", name="Déclarer le conflit d'intérêts").click()
    expect(page.get_by_text("Indiquez la raison du conflit d'intérêts.")).to_be_visible()
    expect(page.get_by_text("Cochez la case pour confirmer.")).to_be_visible()
    page.get_by_label("Raison du conflit d'intérêts").fill("Ancien salarié de l'éditeur.")
    page.locator("label[for=confirmation]").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Déclarer le conflit d'intérêts").click()
    expect(page.get_by_text("Conflit d'intérêts déclaré.")).to_be_visible()
    _logout(page)

    login(page, member_b)
    page.goto(seance_url)
    item = page.locator(f'section[data-reference="{reference}"]')
    item.locator("label", has_text="Favorable").first.click()
    item.get_by_label("Commentaire").fill("Dossier complet.")
    item.get_by_role("button", name="Voter").click()
    page.wait_for_load_state("networkidle")
    _logout(page)

    login(page, president)
    page.goto(seance_url)
    item = page.locator(f'section[data-reference="{reference}"]')
    expect(item.get_by_test_id("conflit")).to_have_text(
        f"Conflit d'intérêts : {member_a['name']} — raison : Ancien salarié de l'éditeur.")
    item.locator("label[for^=decision-][for$=-favorable]").click()
    confirm(page, item, "Enregistrer la décision")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Décision enregistrée.")).to_be_visible()
    confirm(page, page, "Clore la séance")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("link", name="Procès-verbal (PDF signé)")).to_be_visible()
    screenshot(page, "college-seance")

    with live_server.app.app_context():
        candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
        assert candidature.status == "certifiee"
        cert = db.scalar(select(Certificat).where(Certificat.candidature_id == candidature.id))
        assert db.scalar(select(Message).where(Message.candidature_id == candidature.id,
                                               Message.event == "emission.emis")) is not None
        seance = db.scalar(select(Seance).where(Seance.label == "Séance e2e"))
        from backoffice.uploads import storage

        RESULTS.mkdir(exist_ok=True)
        for name, key in (("certificat", db.get(__import__("backoffice.models", fromlist=[
                "Fichier"]).Fichier, cert.fichier_id).storage_key),
                          ("proces-verbal", seance.pv_storage_key)):
            path = RESULTS / f"{name}.pdf"
            with storage().open(key) as handle:
                path.write_bytes(handle.read())
            subprocess.run(["pdftoppm", "-png", "-r", "70", "-singlefile", str(path),
                            str(RESULTS / name)], check=False, timeout=60)
        number, cert_id = cert.number, cert.id
    _logout(page)

    page.goto(f"/verify/{number}")
    expect(page.get_by_test_id("verdict")).to_have_text(
        re.compile(r"^\s*" + re.escape(f"Certificat {number} : valide")))
    assert axe_violations(page) == []
    login(page, live_server.account("admin"))
    page.goto(f"/admin/certificat/statut/{cert_id}")
    page.select_option("#status", "retire")
    page.fill("#motive", "Non-conformité constatée après délivrance.")
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer").click()
    page.goto(f"/verify/{number}")
    expect(page.get_by_test_id("verdict")).to_contain_text("retiré")
    # the public sees the status and its date, never the internal motive (issue 15.9)
    expect(page.get_by_text("Non-conformité constatée après délivrance.")).to_have_count(0)
