"""Issue 17's first journey, « SONS SAS from the campaign window to référencement », in a
real browser: the vendor files through the HTTP API while the démarche's campaign window
is open, the Ségur vérificatrice instructs every step on her screens (dépôt, éligibilité,
convention, sections), the attestation is issued by its job (in-process in the embedded
mode). At the end: the numéro unique de référencement on the dossier's result panel, in
the thread, in the API's `result` block and in the e-mail with the attestation attached;
the attestation's whole title in the PDF; the history told with names."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.db import db
from backoffice.demo_files import one_page_pdf
from backoffice.models import CampaignWindow, Candidature, Certificat
from backoffice.uploads import storage
from backoffice.workflow.base import now
from tests.e2e.conftest import axe_violations, confirm, login, screenshot
from tests.helpers import pdf_text

pytestmark = pytest.mark.browser

CONTACT = "referencement.sons@editeur-sons.example.fr"
PDF = one_page_pdf("Pièce")


class Vendor:
    """The vendor portal: the demo organisation's token over HTTP."""

    def __init__(self, live_server) -> None:
        self.base = f"{live_server.url}/api/v1"
        self.headers = {"Authorization": f"Bearer {live_server.credentials['api_token']['token']}"}

    def call(self, method: str, path: str, expect_status: int | None = None, **kwargs):
        response = requests.request(method, f"{self.base}{path}", headers=self.headers,
                                    timeout=60, **kwargs)
        if expect_status is None:
            assert response.status_code < 300, (path, response.status_code, response.text)
        else:
            assert response.status_code == expect_status, (path, response.text)
        return response

    def get(self, path: str):
        return self.call("GET", path).json()

    def fill(self, reference: str, step: str, pieces: list[str]) -> None:
        form = {"responsable_legal": {"nom": "Martin", "prenom": "Jeanne",
                                      "fonction": "Présidente"},
                "contact": {"nom": "Durand", "prenom": "Paul", "email": CONTACT},
                "entreprise": {"raison_sociale": "Éditeur SONS", "siret": "12345678900011"},
                "produit": {"nom": "Régulo", "version": "v3.2"},
                "profils": ["GENERAL"], "consentement_email": True}
        self.call("PUT", f"/candidatures/{reference}/forms/{step}", json=form)
        for piece in pieces:
            self.call("POST", f"/candidatures/{reference}/pieces", data={"type": piece,
                                                                          "step": step},
                      files={"file": (f"{piece}.pdf", PDF, "application/pdf")})

    def submit(self, reference: str, step: str) -> None:
        self.call("POST", f"/candidatures/{reference}/steps/{step}/submit")


def _click(page, name: str, flash: str | None = None) -> None:
    page.get_by_role("button", name=name).click()
    page.wait_for_load_state("networkidle")
    if flash:
        expect(page.get_by_text(flash).first).to_be_visible()


def _instruct_form_step(page, reference: str, label: str) -> None:
    page.goto(f"/instruction/candidatures/{reference}")
    expect(page.locator(".fr-stepper__title")).to_have_text(re.compile(f"^{label}"))
    _click(page, "Je prends ce dossier", "Le dossier vous est attribué.")
    confirm(page, page, "Valider l'étape")
    expect(page.locator(".fr-stepper__title")).not_to_have_text(re.compile(f"^{label}"))


def _review_section(page, reference: str, code: str) -> None:
    page.goto(f"/instruction/candidatures/{reference}/sections/{code}")
    _click(page, "Commencer la revue")
    confirm(page, page.locator("#section-verdicts"), "Tout conforme")
    _click(page, "Valider la section", f"Section {code} validée.")


def test_sons_sas_from_the_campaign_window_to_referencement(page, live_server,
                                                            tmp_path) -> None:
    app = live_server.app
    with app.app_context():
        window = db.scalar(select(CampaignWindow).where(
            CampaignWindow.demarche_code == "sons_sas", CampaignWindow.opens_at <= now(),
            CampaignWindow.closes_at > now()))
        assert window is not None  # the vendor files within an open window

    # the vendor opens and files the dépôt through the API
    vendor = Vendor(live_server)
    product = vendor.call("POST", "/products", json={
        "name": "Régulo", "version": "v3.2", "type": "socle", "nil": "NIL-7701",
        "responsable": "Jeanne Martin", "description": "Régulation des soins non programmés",
        "certifications": ["HDS"], "qualification": {}}).json()
    opened = vendor.call("POST", "/candidatures", expect_status=201,
                         json={"product_id": product["id"], "demarche": "sons_sas"}).json()
    reference = opened["reference"]
    vendor.fill(reference, "depot", [])
    vendor.submit(reference, "depot")

    # the vérificatrice of the Ségur team instructs each step in her browser
    login(page, live_server.account("verificatrice.segur"))
    _instruct_form_step(page, reference, "Dépôt de candidature")
    assert vendor.get(f"/candidatures/{reference}")["step"] == "eligibilite"
    vendor.fill(reference, "eligibilite", ["lettre_engagement"])
    vendor.submit(reference, "eligibilite")
    _instruct_form_step(page, reference, "Éligibilité")

    # convention: sent (Yousign not configured: the request id typed), signed, validated
    page.goto(f"/instruction/candidatures/{reference}")
    expect(page.locator(".fr-stepper__title")).to_have_text(re.compile("^Convention"))
    page.get_by_label("Identifiant de la demande Yousign").fill("sr-e2e-sons-0001")
    _click(page, "Envoyer pour signature")
    page.set_input_files("#convention-signee", files=[{
        "name": "convention-signee.pdf", "mimeType": "application/pdf",
        "buffer": one_page_pdf("Convention signée")}])
    _click(page, "Enregistrer la signature")
    confirm(page, page, "Valider la convention")
    expect(page.locator(".fr-stepper__title")).to_have_text(re.compile("^Dépôt des preuves"))

    # the vendor files a preuve per exigence and submits each section; she reviews them
    sections = vendor.get(f"/candidatures/{reference}")["sections"]
    assert sections
    for section in sections:
        code = section["code"]
        body = vendor.get(f"/candidatures/{reference}/sections/{code}")
        for exigence in body["exigences"]:
            vendor.call("POST", f"/candidatures/{reference}/sections/{code}/exigences/"
                        f"{exigence['code']}/preuves", expect_status=201,
                        files={"file": (f"{exigence['code']}.pdf", PDF, "application/pdf")})
        vendor.call("POST", f"/candidatures/{reference}/sections/{code}/submit")
    for section in sections:
        _review_section(page, reference, section["code"])

    # the last section validated, the attestation's job ran after the commit
    with app.app_context():
        candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
        assert candidature.status == "referencee"
        cert = db.scalar(select(Certificat).where(Certificat.candidature_id == candidature.id))
        number, numero = cert.number, cert.numero_referencement
        with storage().open(cert.fichier.storage_key) as handle:
            attestation = handle.read()
        fichier_id = cert.fichier_id
    assert numero and number

    # the vérificatrice: the result panel, its links, the thread
    page.goto(f"/instruction/candidatures/{reference}")
    expect(page.get_by_text("Candidature référencée le")).to_be_visible()
    panel = page.get_by_test_id("resultat")
    expect(panel.get_by_role("heading", name="Attestation de référencement")).to_be_visible()
    expect(panel.get_by_test_id("resultat-numero")).to_have_text(number)
    expect(panel.get_by_test_id("resultat-referencement")).to_have_text(numero)
    expect(panel.get_by_test_id("resultat-statut")).to_have_text(re.compile("Valide"))
    expect(panel.get_by_role("link", name="Page de vérification publique")).to_have_attribute(
        "href", f"/verify/{number}")
    expect(panel.get_by_role("link", name="Voir le document (PDF)")).to_have_attribute(
        "href", f"/instruction/fichiers/{fichier_id}/apercu")
    assert axe_violations(page) == []
    screenshot(page, "parcours-sons-resultat")
    page.goto(f"/instruction/candidatures/{reference}?onglet=messagerie")
    expect(page.get_by_text(f"numéro unique de référencement est le {numero}")).to_be_visible()
    public = requests.get(f"{live_server.url}/verify/{number}", timeout=30)
    assert public.status_code == 200 and number in public.text

    # the history: sentences with names, never the agents' e-mails
    page.goto(f"/instruction/candidatures/{reference}?onglet=historique")
    account = live_server.account("verificatrice.segur")
    expect(page.locator("#table-historique")).not_to_contain_text(account["email"])
    for who, what in (
            ("L'industriel (Careoptim)", "a soumis l'étape « Dépôt de candidature »"),
            (account["name"], "a validé l'étape « Dépôt de candidature »"),
            (account["name"], "a validé l'étape « Éligibilité »"),
            (account["name"], "a envoyé la convention pour signature"),
            (account["name"], "a validé la convention — Signée → Validée"),
            ("L'industriel (Careoptim)", "a déposé la preuve « SAS 1.1.pdf » pour l'exigence "
                                        "SAS 1.1"),
            (account["name"], "a validé la section SAS — Service d'accès aux soins au tour 1"),
            ("Émission des certificats", f"a émis le document « Référencement » — n° {number}")):
        expect(_history_row(page, who, what)).to_be_visible()

    # the vendor, through the API: the result block, the document, the thread
    result = vendor.get(f"/candidatures/{reference}")["result"]
    assert result["kind"] == "referencement" and result["status"] == "valide"
    assert result["number"] == number and result["numero_referencement"] == numero
    assert result["verify_url"].endswith(f"/verify/{number}")
    pdf = vendor.call("GET", f"/candidatures/{reference}/files/{result['file']['id']}")
    assert pdf.content == attestation
    thread = vendor.get(f"/candidatures/{reference}/messages?limit=200")["items"]
    emis = next(m for m in thread if m["event"] == "emission.referencement_emis")
    assert numero in emis["body"] and f"/verify/{number}" in emis["body"]

    # the vendor, by e-mail: the numéro in the body, the attestation attached
    mails = [m for m in (email.message_from_bytes(p.read_bytes(), policy=policy.default)
                         for p in Path(app.config["MAIL_OUTBOX_DIR"]).glob("*.eml"))
             if reference in (m["Subject"] or "") and "émise" in m["Subject"]]
    assert len(mails) == 1 and mails[0]["To"] == CONTACT
    assert numero in mails[0].get_body(("plain",)).get_content()
    attached = list(mails[0].iter_attachments())
    assert [a.get_filename() for a in attached] == [f"{number}.pdf"]
    assert attached[0].get_content() == attestation

    # the attestation's title, whole, as a reader of the PDF sees it
    text = pdf_text(attestation, tmp_path)
    assert "Attestation de conformité — référencement SONS SAS" in text
    assert numero in text and "GENERAL" not in text


def _history_row(page, who: str, what: str):
    """The history's row where `who` (the Qui column) did `what` (the Quoi column)."""
    return page.locator("#table-historique tbody tr").filter(
        has=page.locator("td:nth-child(2)", has_text=re.compile(f"^{re.escape(who)}$"))
    ).filter(has=page.locator("td:nth-child(3)", has_text=what)).first
