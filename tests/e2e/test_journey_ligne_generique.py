"""Issue 17's third journey, « ligne générique zip then a support deletion », in a real
browser, every upload scanned by a real clamd: the vendor submits the recevabilité through
the API with one erroneous pièce, then uploads the zip of preuves (accepted before the
vérificateur has decided); the vérificateur opens the erroneous pièce; support deletes it
on the vendor's request with a motive; the vérificateur validates the recevabilité, reads
the zip (matched rows with the exigences' titles, system entries apart), previews an
unmatched entry and gives the avis. At the end: what the vérificateur sees (the pièce
marked deleted with its motive, the history), what support reads in the audit views of
the file and of the candidature (who uploaded, scanned, opened, deleted), and what the
vendor gets through the API and by e-mail."""

from __future__ import annotations

import email
import re
from contextlib import contextmanager
from email import policy
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.db import db
from backoffice.demo_files import one_page_pdf, preuves_zip
from backoffice.models import Fichier, ReferentielExigence
from tests import test_antivirus
from tests.e2e.conftest import axe_violations, confirm, login, screenshot
from tests.e2e.test_journey_sons import Vendor, _click, _history_row

pytestmark = [pytest.mark.browser, pytest.mark.clamav]

CONTACT = "qualite@editeur-glycemo.example.fr"
WRONG = "export-patients-confidentiel.pdf"
MOTIF = "Fichier d'un autre produit, déposé par erreur"
DEMANDE = "SUP-2026-0917"
PIECES = ["documentation_fonctionnelle", "attestation_protection_donnees",
          "declaration_marquage_ce", "reglement_phase_transitoire"]


@pytest.fixture(scope="module")
def clamd(tmp_path_factory):
    """The clamav tier's daemon (tests/test_antivirus.py), for this module only (each
    daemon has its own socket directory)."""
    yield from test_antivirus.clamd.__wrapped__(tmp_path_factory)


@contextmanager
def _scanning(app, daemon):
    """The live server scans every upload with the test clamd while the journey runs."""
    app.config["CLAMD_SOCKET"] = daemon.socket_path
    try:
        yield
    finally:
        app.config["CLAMD_SOCKET"] = None


def _logout(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_load_state("networkidle")


def _popup(page, link) -> object:
    with page.context.expect_page() as opened:
        link.click()
    popup = opened.value
    popup.wait_for_load_state()
    return popup


def test_ligne_generique_zip_then_a_support_deletion(page, live_server, clamd) -> None:
    app = live_server.app
    vendor = Vendor(live_server)
    with _scanning(app, clamd):
        product = vendor.call("POST", "/products", json={
            "name": "Glycémo", "version": "v1.4", "type": "socle", "nil": "NIL-7702",
            "responsable": "Jeanne Martin", "description": "Suivi glycémique",
            "certifications": ["ISO 13485"], "qualification": {}}).json()
        reference = vendor.call("POST", "/candidatures", expect_status=201, json={
            "product_id": product["id"], "demarche": "dmn_ligne_generique"}).json()["reference"]
        form = {"responsable_legal": {"nom": "Martin", "prenom": "Jeanne",
                                      "fonction": "Présidente"},
                "contact": {"nom": "Durand", "prenom": "Paul", "email": CONTACT},
                "entreprise": {"raison_sociale": "Éditeur LG", "siret": "12345678900011"},
                "produit": {"nom": "Glycémo", "version": "v1.4"},
                "profils": ["GEN", "INS"], "consentement_email": True}
        vendor.call("PUT", f"/candidatures/{reference}/forms/recevabilite", json=form)
        for piece, name in [(p, f"{p}.pdf") for p in PIECES] + [(PIECES[0], WRONG)]:
            vendor.call("POST", f"/candidatures/{reference}/pieces",
                        data={"type": piece, "step": "recevabilite"},
                        files={"file": (name, one_page_pdf(name), "application/pdf")})
        vendor.call("POST", f"/candidatures/{reference}/steps/recevabilite/submit")
        # the guide: the zip once the recevabilité is submitted, before any decision
        archive = preuves_zip(["INS 1.1", "INS 2.1"], {
            "divers/annexe technique.pdf": one_page_pdf("Annexe technique"),
            "__MACOSX/._INS 1.1.pdf": b"\x00\x05\x16\x07", ".DS_Store": b"\x00\x00\x00\x01Bud1"})
        vendor.call("POST", f"/candidatures/{reference}/preuves-pour-avis", expect_status=201,
                    files={"file": ("preuves_glycemo.zip", archive, "application/zip")})
        with app.app_context():
            wrong = db.scalar(select(Fichier).where(Fichier.original_name == WRONG))
            wrong_id, clean = wrong.id, wrong.scan_status
            title = db.scalar(select(ReferentielExigence.title)
                              .where(ReferentielExigence.code == "INS 1.1").limit(1))
        assert clean == "sain"  # scanned by clamd after the upload's commit

        # the vérificateur: the zip is there already; she opens the erroneous pièce
        verificateur = live_server.account("verificateur")
        login(page, verificateur)
        page.goto(f"/instruction/candidatures/{reference}")
        panel = page.get_by_test_id("pour-avis")
        expect(panel.get_by_test_id("pour-avis-archive")).to_contain_text("preuves_glycemo.zip")
        expect(panel).to_contain_text("5 fichiers dans l'archive")
        page.goto(f"/instruction/candidatures/{reference}?onglet=pieces")
        row = page.locator("#table-pieces tbody tr", has_text=WRONG)
        viewer = _popup(page, row.get_by_role("link", name=re.compile("^Aperçu")))
        expect(viewer.get_by_text("Aperçu protégé").first).to_be_visible()
        viewer.close()
        _logout(page)

        # support, on the vendor's request
        support = live_server.account("support")
        login(page, support)
        page.get_by_label("Référence de candidature *").fill(reference)
        page.get_by_label("Nom du fichier").fill("export-patients")
        _click(page, "Rechercher")
        found = page.locator(f'section[data-file="{WRONG}"]')
        found.get_by_label("Référence de la demande *").fill(DEMANDE)
        found.get_by_label("Motif *").fill(MOTIF)
        confirm(page, found, "Supprimer ce fichier")
        expect(page.get_by_text(f"« {WRONG} » est supprimé").first).to_be_visible()
        _logout(page)

        # the vérificateur decides the recevabilité, then reads the zip
        login(page, verificateur)
        page.goto(f"/instruction/candidatures/{reference}")
        _click(page, "Je prends ce dossier", "Le dossier vous est attribué.")
        confirm(page, page, "Valider la recevabilité")
        panel = page.get_by_test_id("pour-avis")
        expect(panel).to_contain_text("Déposées")
        expect(panel).to_contain_text("1 fichier non rattaché")
        expect(panel).to_contain_text("2 fichiers ajoutés par le système, ignorés")
        expect(panel.get_by_test_id("pour-avis-analyse")).to_contain_text(
            re.compile(r"2 exigences sur \d+ avec au moins un fichier"))
        assert axe_violations(page) == []
        screenshot(page, "parcours-ligne-generique-dossier")
        panel.get_by_role("link", name="Examiner l'archive et rendre l'avis").click()
        page.wait_for_load_state("networkidle")
        matched = page.locator('#table-rattaches tr[data-code="INS 1.1"]')
        expect(matched).to_contain_text(f"INS 1.1 — {title}")
        expect(page.locator("#fichiers-systeme")).to_contain_text("__MACOSX/._INS 1.1.pdf")
        expect(page.locator("#fichiers-systeme")).to_contain_text(".DS_Store")
        unmatched = page.locator("#non-rattaches")
        expect(unmatched).to_contain_text("Fichiers non rattachés (1)")
        expect(unmatched).not_to_contain_text("__MACOSX")
        entry = unmatched.locator('li[data-entry="divers/annexe technique.pdf"]')
        viewer = _popup(page, entry.get_by_role("link", name=re.compile("^Aperçu")))
        expect(viewer.get_by_text("Aperçu protégé").first).to_be_visible()
        expect(viewer.locator("img").first).to_be_visible()  # the page drawn by the server
        viewer.close()
        assert axe_violations(page) == []
        page.get_by_label("Avis sur INS 1.1").fill("Capture lisible, preuve suffisante.")
        page.get_by_label("Avis global à l'industriel *").fill("Avis favorable sur INS.")
        _click(page, "Rendre l'avis", "L'avis est rendu à l'industriel.")

        # what the vérificateur sees of the deletion: the checklist, the history
        page.goto(f"/instruction/candidatures/{reference}?onglet=pieces")
        row = page.locator("#table-pieces tbody tr", has_text=WRONG)
        expect(row).to_contain_text("Supprimée par le support")
        expect(row.get_by_test_id("suppression")).to_contain_text(
            f"({DEMANDE}) — motif : {MOTIF}")
        expect(row).to_contain_text("Indisponible")
        page.goto(f"/instruction/candidatures/{reference}?onglet=historique")
        expect(page.locator("#table-historique")).not_to_contain_text(support["email"])
        expect(_history_row(page, support["name"], f"a supprimé le fichier « {WRONG} »")) \
            .to_contain_text(f"motif : « {MOTIF} »")
        expect(_history_row(page, "L'industriel (Careoptim)",
                            "a déposé l'archive des preuves pour avis « preuves_glycemo.zip »")
               ).to_be_visible()
        expect(_history_row(page, verificateur["name"], "a rendu l'avis")).to_be_visible()
        _logout(page)

        # support's audit views: the file's life, then the candidature's
        login(page, support)
        page.goto(f"/support/fichiers/{wrong_id}/historique")
        expect(page.get_by_role("heading", name=f"Historique du fichier « {WRONG} »")) \
            .to_be_visible()
        expect(page.get_by_text(f"demande {DEMANDE} — {MOTIF}")).to_be_visible()
        for who, what in (
                ("L'industriel (Careoptim)", f"a déposé le fichier « {WRONG} »"),
                ("Antivirus", "a analysé le fichier : aucune menace détectée"),
                (verificateur["name"], f"a ouvert le fichier « {WRONG} » — aperçu"),
                (support["name"], f"a supprimé le fichier « {WRONG} »")):
            expect(_history_row(page, who, what)).to_be_visible()
        expect(page.locator("#table-historique")).not_to_contain_text(verificateur["email"])
        assert axe_violations(page) == []
        page.goto(f"/support/candidatures/{reference}/historique")
        for who, what in (
                (verificateur["name"], "a validé l'étape « Recevabilité »"),
                (verificateur["name"], f"a ouvert le fichier « {WRONG} »"),
                (support["name"], f"a supprimé le fichier « {WRONG} »"),
                ("L'industriel (Careoptim)", "a déposé l'archive des preuves pour avis")):
            expect(_history_row(page, who, what)).to_be_visible()
        screenshot(page, "parcours-ligne-generique-support")

    # the vendor, through the API: the thread, the file gone, the avis
    detail = vendor.get(f"/candidatures/{reference}")
    assert detail["status"] == "avis_rendu"
    thread = vendor.get(f"/candidatures/{reference}/messages?limit=200")["items"]
    deleted = next(m for m in thread if m["event"] == "support.fichier_supprime")
    assert DEMANDE in deleted["body"] and MOTIF in deleted["body"] and WRONG in deleted["body"]
    avis = next(m for m in thread if m["event"] == "pour_avis.avis_rendu")
    assert "Avis favorable sur INS." in avis["body"]
    gone = vendor.call("GET", f"/candidatures/{reference}/files/{wrong_id}", expect_status=409)
    assert gone.json()["code"] == "file_not_available"

    # the vendor, by e-mail
    mails = [m for m in (email.message_from_bytes(p.read_bytes(), policy=policy.default)
                         for p in Path(app.config["MAIL_OUTBOX_DIR"]).glob("*.eml"))
             if m["To"] == CONTACT]
    subjects = [m["Subject"] for m in mails]
    deletion = [m for m in mails if WRONG in m["Subject"]]
    assert len(deletion) == 1, subjects
    body = deletion[0].get_body(("plain",)).get_content()
    assert DEMANDE in body and MOTIF in body
    assert any("avis" in s.lower() for s in subjects), subjects
