"""Issue 17, « Done when »: a DMN nom de marque from the vendor's first request to its
certificate, walked as each side lives it — the vendor through the intake API, the ANS
people in a real browser: recevabilité, convention, preuves through two rounds of
modifications on one section, a collège séance where one member declares a conflict of
interest, the favourable decision, the certificate issued by its job (in-process: the
live server has no Redis). At the end it asserts what each one sees: the vérificateur's
result panel and history, the collège member's séance and file, the vendor's API `result`
and the e-mail in the outbox with the certificate attached."""

from __future__ import annotations

import email
import json
import re
import time
from datetime import datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.api.webhooks import sign
from backoffice.auth.passwords import hash_password
from backoffice.db import db
from backoffice.demo_files import one_page_pdf
from backoffice.models import PieceType, User
from tests.e2e.conftest import RESULTS, axe_violations, confirm, login, screenshot

pytestmark = pytest.mark.browser
PASSWORD = "mot-de-passe-du-parcours-dmn"
CONTACT = "qualite@cardiosuivi-e2e.example.fr"
PRODUCT = {"name": "Cardiosuivi E2E", "version": "3.2", "type": "socle", "nil": "NIL-E2E",
           "responsable": "Jeanne Martin", "description": "Télésurveillance cardiaque",
           "certifications": [], "qualification": {"q1": "oui"}}


class Vendor:
    """The vendor's side: the demo organisation's API token, over HTTP."""

    def __init__(self, live_server) -> None:
        self.base = f"{live_server.url}/api/v1"
        self.headers = {"Authorization": f"Bearer {live_server.credentials['api_token']['token']}"}

    def __call__(self, method: str, path: str, **kwargs):
        response = requests.request(method, self.base + path, headers=self.headers,
                                    timeout=60, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def upload(self, path: str, name: str, **data):
        return self("POST", path, data=data,
                    files={"file": (name, one_page_pdf(name), "application/pdf")})


def _people(live_server) -> tuple[dict, dict]:
    """Test set-up: two more collège members with known passwords (they enrol their second
    factor at their first login)."""
    accounts = []
    with live_server.app.app_context():
        for login_name, name in (("membre.dmn.a", "Odile Conflit"),
                                 ("membre.dmn.b", "Pierre Votant")):
            email_address = f"{login_name}@ans.test.fr"
            if db.scalar(select(User).where(User.email == email_address)) is None:
                user = User(email=email_address, name=name,
                            password_hash=hash_password(PASSWORD))
                user.roles = {"college"}
                db.add(user)
            accounts.append({"email": email_address, "password": PASSWORD, "name": name})
        db.commit()
    return accounts[0], accounts[1]


def _required_pieces(live_server) -> list[str]:
    """Test set-up: the pièces the recevabilité requires (reference data)."""
    with live_server.app.app_context():
        return list(db.scalars(select(PieceType.code).where(
            PieceType.parcours == "dmn", PieceType.step == "recevabilite",
            PieceType.required.is_(True)).order_by(PieceType.position)))


def _logout(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion")


def _post_and_wait(page, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name).click()


def _judge(page, code: str, verdict: str, comment: str | None = None) -> None:
    exigence = page.locator(f'section[data-code="{code}"]')
    exigence.locator("label", has_text={"conforme": "Conforme",
                                        "non_conforme": "Non conforme"}[verdict]).first.click()
    if comment:
        exigence.locator("textarea").fill(comment)
    expect(page.locator("#section-save-status")).to_have_text("Enregistré")  # autosaved


def _start_review(page, reference: str, section: str) -> list[str]:
    page.goto(f"/instruction/candidatures/{reference}/sections/{section}")
    if page.get_by_role("button", name="Commencer la revue").count():
        _post_and_wait(page, "Commencer la revue")
    return page.locator("section[data-code]").evaluate_all(
        "nodes => nodes.map(n => n.dataset.code)")


def _all_conforme(page, reference: str, section: str) -> None:
    _start_review(page, reference, section)
    confirm(page, page.locator("#section-verdicts"), "Tout conforme")
    _post_and_wait(page, "Valider la section")
    expect(page.get_by_text(f"Section {section} validée.")).to_be_visible()


def _fill_section(vendor: Vendor, reference: str, section: str) -> dict:
    detail = vendor("GET", f"/candidatures/{reference}/sections/{section}")
    for exigence in detail["exigences"]:
        vendor.upload(f"/candidatures/{reference}/sections/{section}/exigences/"
                      f"{exigence['code']}/preuves", f"preuve-{exigence['code']}.pdf")
    vendor("POST", f"/candidatures/{reference}/sections/{section}/submit")
    return detail


def _paris(delta: timedelta) -> str:
    return (datetime.now(ZoneInfo("Europe/Paris")) + delta).strftime("%Y-%m-%dT%H:%M")


def _mails_to(live_server, address: str) -> list[email.message.EmailMessage]:
    folder = Path(live_server.app.config["MAIL_OUTBOX_DIR"])
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted(folder.glob("*.eml"))] if folder.exists() else []
    return [m for m in mails if m["To"] == address]


def test_dmn_nom_de_marque_from_request_to_certificate(page, live_server) -> None:
    vendor = Vendor(live_server)
    conflicted, voter = _people(live_server)
    president = live_server.account("college")  # the demo's secrétaire de séance
    verificateur = live_server.account("verificateur")

    # --- the vendor opens the candidature, fills the recevabilité and submits it -------
    product = vendor("POST", "/products", json=PRODUCT)
    reference = vendor("POST", "/candidatures", json={
        "product_id": product["id"], "demarche": "dmn_nom_de_marque"})["reference"]
    vendor("PUT", f"/candidatures/{reference}/forms/recevabilite", json={
        "responsable_legal": {"nom": "Martin", "prenom": "Jeanne", "fonction": "Présidente"},
        "contact": {"nom": "Durand", "prenom": "Paul", "email": CONTACT},
        "entreprise": {"raison_sociale": "Cardiosuivi SAS", "siret": "12345678900011"},
        "produit": {"nom": PRODUCT["name"], "version": PRODUCT["version"]},
        "profils": ["GEN"], "consentement_email": True})
    for code in _required_pieces(live_server):
        vendor.upload(f"/candidatures/{reference}/pieces", f"{code}.pdf", type=code)
    vendor("POST", f"/candidatures/{reference}/steps/recevabilite/submit")

    # --- the vérificateur: recevabilité, convention ----------------------------------
    login(page, verificateur)
    page.goto(f"/instruction/candidatures/{reference}")
    _post_and_wait(page, "Je prends ce dossier")
    confirm(page, page, "Valider la recevabilité")
    expect(page.get_by_text("Recevabilité : étape validée.")).to_be_visible()
    request_id = f"sr-journey-{reference.lower()}"
    page.get_by_label("Identifiant de la demande Yousign").fill(request_id)
    _post_and_wait(page, "Envoyer pour signature")
    payload = json.dumps({"event_id": f"evt-journey-{reference}",
                          "event_name": "signature_request.done",
                          "data": {"signature_request": {"id": request_id}}}).encode()
    hook = requests.post(f"{live_server.url}/api/v1/webhooks/yousign", data=payload, timeout=30,
                         headers={"Content-Type": "application/json",
                                  "X-Yousign-Signature-256": sign("secret-e2e", payload)})
    assert hook.json() == {"status": "processed", "reference": reference}
    page.reload()
    confirm(page, page, "Valider la convention")
    expect(page.locator(".fr-stepper__title")).to_have_text(re.compile("^Dépôt des preuves"))

    # --- preuves: every section filed; the first one goes through two rounds of
    # modifications before it is validated at round 3 -------------------------------
    sections = [s["code"] for s in vendor("GET", f"/candidatures/{reference}")["sections"]]
    assert sections, "GEN selects sections"
    details = {code: _fill_section(vendor, reference, code) for code in sections}
    first, others = sections[0], sections[1:]
    target = details[first]["exigences"][0]["code"]
    api = f"/candidatures/{reference}"
    comments = ("La procédure de sauvegarde n'est pas datée.",
                "La procédure datée ne couvre pas la restauration.")
    for round_, comment in enumerate(comments, start=1):
        codes = _start_review(page, reference, first)
        assert target in codes
        _judge(page, target, "non_conforme", comment)
        expect(page.locator("#modifications-message")).to_have_value(re.compile(
            re.escape(comment)))
        _post_and_wait(page, "Demander des modifications")
        expect(page.get_by_text(f"Modifications demandées sur la section {first}.")
               ).to_be_visible()
        # the vendor reads the request, replaces the preuve and resubmits
        state = vendor("GET", api)
        assert any(comment in r["message"] for r in state["change_requests"])
        section = vendor("GET", f"{api}/sections/{first}")
        old = next(e for e in section["exigences"] if e["code"] == target)["preuves"]
        for preuve in old:
            if not preuve["archived"]:
                vendor("DELETE", f"{api}/preuves/{preuve['id']}")
        vendor.upload(f"{api}/sections/{first}/exigences/{target}/preuves",
                      f"sauvegarde-v{round_ + 1}.pdf")
        assert vendor("POST", f"{api}/sections/{first}/submit")["round"] == round_ + 1
    _all_conforme(page, reference, first)
    for code in others:
        _all_conforme(page, reference, code)
    page.goto(f"/instruction/candidatures/{reference}")
    expect(page.locator(".fr-stepper__title")).to_have_text(
        re.compile("^Collège de certification"))
    _logout(page)

    # --- the collège: a séance that started an hour ago -------------------------------
    login(page, president)
    expect(page.get_by_test_id("a-programmer").locator(
        f'tr[data-reference="{reference}"]')).to_be_visible()
    page.get_by_role("link", name="Créer une séance").click()
    page.get_by_label("Libellé *").fill("Séance du parcours DMN")
    page.get_by_label("Date et heure (heure de Paris) *").fill(_paris(timedelta(hours=-1)))
    for name in (president["name"], conflicted["name"], voter["name"]):
        page.locator("label", has_text=name).click()
    page.select_option("#president", label=president["name"])
    page.get_by_label("Quorum").fill("2")
    _post_and_wait(page, "Créer la séance")
    expect(page.get_by_text("Séance créée.")).to_be_visible()
    seance_url = page.url
    page.select_option("#reference", reference)
    _post_and_wait(page, "Inscrire")
    item = page.locator(f'section[data-reference="{reference}"]')
    item.locator("label", has_text="Favorable").first.click()
    item.get_by_label("Commentaire").fill("Preuves complètes au troisième tour.")
    with page.expect_navigation():
        item.get_by_role("button", name="Voter").click()
    _logout(page)

    login(page, conflicted)
    page.goto(seance_url)
    page.locator(f'section[data-reference="{reference}"]').get_by_role(
        "link", name="Déclarer un conflit d'intérêts").click()
    page.get_by_label("Raison du conflit d'intérêts").fill(
        "Mission de conseil auprès de Cardiosuivi SAS en 2025.")
    page.locator("label[for=confirmation]").click()
    _post_and_wait(page, "Déclarer le conflit d'intérêts")
    expect(page.get_by_text("Conflit d'intérêts déclaré.")).to_be_visible()
    item = page.locator(f'section[data-reference="{reference}"]')
    expect(item.get_by_text("Vous avez déclaré un conflit d'intérêts")).to_be_visible()
    expect(item.get_by_role("button", name="Voter")).to_have_count(0)
    _logout(page)

    login(page, voter)
    page.goto(seance_url)
    item = page.locator(f'section[data-reference="{reference}"]')
    item.locator("label", has_text="Favorable").first.click()
    with page.expect_navigation():
        item.get_by_role("button", name="Voter").click()
    _logout(page)

    login(page, president)
    page.goto(seance_url)
    item = page.locator(f'section[data-reference="{reference}"]')
    expect(item.get_by_test_id("conflit")).to_have_text(
        f"Conflit d'intérêts : {conflicted['name']} — raison : Mission de conseil auprès de "
        "Cardiosuivi SAS en 2025.")
    item.locator("label[for^=decision-][for$=-favorable]").click()
    confirm(page, item, "Enregistrer la décision")
    expect(page.get_by_text("Décision enregistrée.")).to_be_visible()
    confirm(page, page, "Clore la séance")
    expect(page.get_by_role("link", name="Procès-verbal (PDF signé)")).to_be_visible()
    _logout(page)

    # --- the certificate is issued by its job -----------------------------------------
    deadline = time.monotonic() + 120
    while (result := vendor("GET", api)["result"]) is None and time.monotonic() < deadline:
        time.sleep(1)
    assert result is not None, "the certificate was not issued"
    number = result["number"]
    assert re.fullmatch(r"ANS-DMN-\d{4}-\d{6}-[A-Z0-9]{5}", number), number

    # --- what the vendor sees: the API's result and the e-mail --------------------------
    state = vendor("GET", api)
    assert (state["status"], result["kind"], result["status"]) == \
        ("certifiee", "certificat", "valide")
    assert result["numero_referencement"] is None and result["next_check_at"]
    assert result["verify_url"].endswith(f"/verify/{number}")
    pdf = requests.get(f"{vendor.base}{api}/files/{result['file']['id']}",
                       headers=vendor.headers, timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    thread = vendor("GET", f"{api}/messages?limit=200")["items"]
    issued = next(m for m in thread if m["event"] == "emission.emis")
    assert f"sous le numéro {number}" in issued["body"] and f"/verify/{number}" in issued["body"]
    mails = [m for m in _mails_to(live_server, CONTACT)
             if m["Subject"] == f"[Convergence {reference}] Certificat de conformité émis"]
    assert len(mails) == 1, [m["Subject"] for m in _mails_to(live_server, CONTACT)]
    body = mails[0].get_body(("plain",)).get_content()
    assert number in body and f"/verify/{number}" in body
    attachments = list(mails[0].iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"{number}.pdf"]
    assert attachments[0].get_content().startswith(b"%PDF")
    subjects = [m["Subject"] for m in _mails_to(live_server, CONTACT)]
    assert subjects.count(f"[Convergence {reference}] Section {first} : modifications "
                          "demandées") == 2, subjects

    # --- what the vérificateur sees: the result panel and the history ------------------
    login(page, verificateur)
    page.goto(f"/instruction/candidatures/{reference}")
    panel = page.get_by_test_id("resultat")
    expect(panel.get_by_test_id("resultat-numero")).to_have_text(number)
    expect(panel.get_by_test_id("resultat-statut")).to_have_text("Valide")
    expect(panel).to_contain_text("jusqu'au prochain contrôle, le ")
    expect(panel.get_by_role("link", name="Voir le document (PDF)")).to_have_attribute(
        "href", f"/instruction/fichiers/{result['file']['id']}/apercu")
    expect(panel.get_by_role("link", name="Page de vérification publique")).to_have_attribute(
        "href", f"/verify/{number}")
    assert axe_violations(page) == []
    screenshot(page, "parcours-dmn-resultat")
    page.goto(f"/instruction/candidatures/{reference}?onglet=historique")
    table = page.locator("main table").filter(has=page.locator("th", has_text="Qui"))
    history = table.inner_text()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "parcours-dmn-historique.txt").write_text(history)
    rows = [line.split("\t")[1:] for line in history.splitlines() if line.count("\t") == 2]
    victor, claire = verificateur["name"], president["name"]
    for who, sentence in (
            (victor, "a validé l'étape « Recevabilité »"),
            (victor, "a validé la convention"),
            (victor, f"a demandé des modifications sur la section {first} — "),
            (victor, "a rendu son verdict sur l'exigence "
                     f"{target} — {details[first]['exigences'][0]['title']} — non conforme : "
                     f"« {comments[1]} »"),
            (victor, f"a validé la section {first} — "),
            ("L'industriel (", f"a déposé la preuve « sauvegarde-v3.pdf » pour l'exigence "
                               f"{target}"),
            (claire, "a inscrit le dossier à une séance du collège"),
            (conflicted["name"], "a déclaré un conflit d'intérêts sur le dossier"),
            (voter["name"], "a voté — vote favorable"),
            (claire, "a rendu une décision favorable"),
            ("Émission des certificats", f"a émis le document « Certificat » — n° {number}")):
        assert any(w.startswith(who) and what.startswith(sentence) for w, what in rows), \
            (who, sentence)
    assert sum(what.startswith(f"a demandé des modifications sur la section {first} — ")
               for _, what in rows) == 2
    assert "au tour 3 — En revue → Validée" in history
    assert "@" not in history  # people by their names, never their addresses
    # the reason of a conflict stays with the séance's président and secrétaires
    assert "Mission de conseil" not in history
    page.goto(f"/verify/{number}")
    expect(page.get_by_test_id("verdict")).to_contain_text(f"Certificat {number} : valide")
    page.goto("/")  # /verify is public: its header has no « Se déconnecter »
    _logout(page)

    # --- what a collège member sees: the séance, the decision, the conflict, the file ---
    login(page, voter)
    page.goto("/college/")
    expect(page.get_by_role("link", name="Séance du parcours DMN")).to_be_visible()
    page.goto(seance_url)
    item = page.locator(f'section[data-reference="{reference}"]')
    expect(item.get_by_test_id("decision")).to_have_text("Décision : favorable")
    expect(item.get_by_test_id("conflit")).to_have_text(
        f"Conflit d'intérêts : {conflicted['name']}")  # who, not why
    expect(item).to_contain_text(f"{voter['name']} : Favorable")
    expect(page.get_by_role("link", name="Procès-verbal (PDF signé)")).to_be_visible()
    item.get_by_role("link", name="Dossier complet et synthèse").click()
    rounds = page.get_by_test_id(f"tours-{first}")
    expect(rounds).to_contain_text("Tour 1 : modifications demandées")
    expect(rounds).to_contain_text("Tour 2 : modifications demandées")
    expect(rounds).to_contain_text("Tour 3 : validée")
    row = page.locator(f'section[data-section="{first}"] tr[data-exigence="{target}"]')
    for text in (f"Tour 1 : Non conforme — {comments[0]}",
                 f"Tour 2 : Non conforme — {comments[1]}", "Tour 3 : Conforme",
                 "retirée au tour 2", "retirée au tour 3", "sauvegarde-v3.pdf"):
        expect(row).to_contain_text(text)
    expect(page.locator("main")).not_to_contain_text("{'")
    assert axe_violations(page) == []
    screenshot(page, "parcours-dmn-college-dossier")
    row.get_by_role("link", name="sauvegarde-v3.pdf (aperçu protégé)").click()
    expect(page.get_by_text("Aperçu protégé")).to_be_visible()
    expect(page.locator("img.bo-pdf-page")).to_have_count(1)
