"""The vérificateur's day in a real browser: filter a queue, take a dossier, ask for
compléments; the vendor answers through the API; the vérificateur sees the unread
message, validates the recevabilité; Yousign's webhook signs the convention; the
vérificateur validates it. axe-core checks the pages on the way."""

from __future__ import annotations

import json
import re

import pytest
import requests
from playwright.sync_api import expect

from backoffice.api.webhooks import sign
from tests.e2e.conftest import axe_violations, confirm, login, screenshot

pytestmark = pytest.mark.browser


def _api(live_server, method, path, **kwargs):
    token = live_server.credentials["api_token"]["token"]
    response = requests.request(method, f"{live_server.url}/api/v1{path}", timeout=30,
                                headers={"Authorization": f"Bearer {token}"}, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def test_instruct_a_recevabilite_and_a_convention(page, live_server) -> None:
    login(page, live_server.account("verificateur"))
    assert axe_violations(page) == []
    screenshot(page, "workspace-accueil")

    # filter the queue: Nom de marque, what ANS must instruct, nobody on it
    page.goto("/instruction/file")
    page.select_option("#demarche", "dmn_nom_de_marque")
    page.select_option("#tour", "ans")
    page.select_option("#attribution", "personne")
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile("demarche=dmn_nom_de_marque"))
    assert axe_violations(page) == []
    screenshot(page, "workspace-file")
    # the vendor's own candidature (the demo token's organisation) at recevabilité
    mine = {c["reference"] for c in _api(live_server, "GET", "/candidatures?limit=200")["items"]
            if c["demarche"] == "dmn_nom_de_marque" and c["step"] == "recevabilite"
            and c["step_status"] == "soumise"}
    rows = page.locator("#table-file tbody tr[data-reference]")
    reference = next(r for r in rows.evaluate_all("rows => rows.map(r => r.dataset.reference)")
                     if r in mine)
    page.get_by_role("link", name=reference).click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("reference")).to_have_text(reference)

    page.get_by_role("button", name="Je prends ce dossier").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Le dossier vous est attribué.")).to_be_visible()
    # DSFR checkboxes: the label is what receives the click
    page.locator("label[for=piece-declaration_marquage_ce]").click()
    page.get_by_label("Message à l'industriel *").fill("La déclaration CE est illisible.")
    page.get_by_role("button", name="Demander des compléments").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Demande de compléments envoyée à l'industriel.")).to_be_visible()
    assert axe_violations(page) == []
    # the thread read up to now (the demo's vendors have written in some threads already)
    page.goto(f"/instruction/candidatures/{reference}?onglet=messagerie")
    expect(page.get_by_label("Message *")).to_be_visible()

    # the vendor answers through the API
    detail = _api(live_server, "GET", f"/candidatures/{reference}")
    assert detail["change_requests"][0]["message"].startswith("La déclaration CE est illisible.")
    _api(live_server, "POST", f"/candidatures/{reference}/pieces",
         data={"type": "declaration_marquage_ce"},
         files={"file": ("marquage-ce-v2.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    _api(live_server, "POST", f"/candidatures/{reference}/messages",
         json={"body": "Nouvelle déclaration CE déposée."})
    _api(live_server, "POST", f"/candidatures/{reference}/steps/recevabilite/submit")

    # the vérificateur sees the unread message and validates
    page.goto("/instruction/file?attribution=moi")
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row.locator(".fr-badge--new")).to_have_text("1")
    page.goto(f"/instruction/candidatures/{reference}")
    # the tab also says « Nouveau » since the last visit (issue 18 item 1)
    messagerie = page.get_by_role("link", name=re.compile(r"^Messagerie\b.*\b1 non lu$"))
    expect(messagerie).to_be_visible()
    messagerie.click()
    expect(page.get_by_text("Nouvelle déclaration CE déposée.")).to_be_visible()
    # the newest first, marked unread, below the composer (issue 19 item 4)
    expect(page.locator(".bo-unread")).to_have_count(1)
    expect(page.locator(".bo-unread")).to_be_visible()
    expect(page.get_by_label("Message *")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "workspace-messagerie")
    page.get_by_role("button", name="Reprendre l'instruction").click()
    confirm(page, page, "Valider la recevabilité")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Recevabilité : étape validée.")).to_be_visible()

    # convention: sent (Yousign request id typed by hand here), signed by the webhook
    page.get_by_label("Identifiant de la demande Yousign").fill(f"sr-e2e-{reference.lower()}")
    page.get_by_role("button", name="Envoyer pour signature").click()
    page.wait_for_load_state("networkidle")
    payload = json.dumps({"event_id": f"evt-{reference}", "event_name": "signature_request.done",
                          "data": {"signature_request": {"id": f"sr-e2e-{reference.lower()}"}}
                          }).encode()
    hook = requests.post(f"{live_server.url}/api/v1/webhooks/yousign", data=payload, timeout=30,
                         headers={"Content-Type": "application/json",
                                  "X-Yousign-Signature-256": sign("secret-e2e", payload)})
    assert hook.json() == {"status": "processed", "reference": reference}
    page.reload()
    confirm(page, page, "Valider la convention")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("le dépôt des preuves est ouvert")).to_be_visible()
    expect(page.locator(".fr-stepper__title")).to_have_text(re.compile("^Dépôt des preuves"))
    assert axe_violations(page) == []
    screenshot(page, "workspace-dossier")


def test_export_the_queue_as_a_spreadsheet(page, live_server) -> None:
    """Issue 19 item 3: the spreadsheet is prepared by the export job (in process in the
    embedded mode) and downloaded from the Exports page."""
    login(page, live_server.account("verificateur"))
    page.goto("/instruction/file")
    page.get_by_role("link", name="Exporter (tableur)").click()
    expect(page.get_by_text("Filtres : toute la file.")).to_be_visible()
    expect(page.get_by_label("Tableur (XLSX)")).to_be_checked()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Préparer l'export").click()
    expect(page.get_by_text("Votre export de la file est prêt")).to_be_visible()
    row = page.locator("#table-exports tbody tr").first
    expect(row).to_contain_text("Prêt")
    assert axe_violations(page) == []
    screenshot(page, "workspace-exports")
    with page.expect_download() as download:
        row.get_by_role("link", name="Télécharger").click()
    assert download.value.suggested_filename.endswith(".xlsx")


def test_a_pdf_preview_shows_server_drawn_pages(page, live_server) -> None:
    """The « Aperçu » of a PDF opens the safe viewer: images drawn by the server, never the
    PDF in the browser's own viewer."""
    login(page, live_server.account("verificateur"))
    page.goto("/instruction/file")
    page.locator("#table-file tbody tr[data-reference] a").first.click()
    page.wait_for_load_state("networkidle")
    page.goto(page.url.split("?")[0] + "?onglet=pieces")
    link = page.get_by_role("link", name="Aperçu").first
    with page.context.expect_page() as opened:
        link.click()
    viewer = opened.value
    viewer.wait_for_load_state("networkidle")
    expect(viewer.get_by_text("Aperçu protégé")).to_be_visible()
    first = viewer.locator("img.bo-pdf-page").first
    first.scroll_into_view_if_needed()
    viewer.wait_for_function("img => img.complete && img.naturalWidth > 0",
                             arg=first.element_handle())
    assert first.evaluate("img => img.naturalWidth") >= 1000  # a page, drawn at 150 dpi
    assert axe_violations(viewer) == []
    screenshot(viewer, "apercu-pdf")
