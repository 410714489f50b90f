"""Irreversible actions are confirmed in a DSFR modal (issue 18, item 6): cancelling posts
nothing, confirming posts the same form; without JavaScript the same dialog opens as an
anchor target and works the same; the modal passes axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature, Fichier
from tests.e2e.conftest import axe_violations, login

pytestmark = pytest.mark.browser


def _files(live_server, count: int) -> list[tuple[int, str, str]]:
    """Files of the demo that no other browser test deletes: (id, reference, name)."""
    from backoffice.workflow.support import _ans_document, usage

    with live_server.app.app_context():
        rows = db.execute(
            select(Fichier, Candidature)
            .join(Candidature, Candidature.id == Fichier.candidature_id)
            .where(Fichier.deleted_at.is_(None), Fichier.original_name != "preuves_INS.zip")
            .order_by(Fichier.id.desc())).all()
        seen, chosen = set(), []
        for fichier, candidature in rows:
            if len(chosen) == count or _ans_document(fichier):
                continue
            used = usage(fichier)  # support may delete it: its step or section is open
            if used["kind"] == "piece":
                if candidature.step(used["piece"].step).status == "validee":
                    continue
            elif used["kind"] != "preuve" or used["section"].status == "validee":
                continue
            key = (candidature.reference, fichier.original_name)
            if key not in seen:  # the search by name finds one panel
                seen.add(key)
                chosen.append((fichier.id, *key))
    return chosen


def _deleted(live_server, fichier_id: int) -> bool:
    with live_server.app.app_context():
        return db.get(Fichier, fichier_id).deleted_at is not None


def _open_panel(page, reference: str, name: str):
    page.goto(f"/support/?reference={reference}&nom={name}")
    panel = page.locator("section[data-file]").filter(has_text=name).first
    expect(panel).to_be_visible()
    panel.get_by_label("Référence de la demande *").fill("SUP-2026-0042")
    panel.get_by_label("Motif *").fill("Fichier déposé par erreur")
    return panel


def test_cancelling_the_modal_does_nothing_and_confirming_deletes(page, live_server) -> None:
    (fichier_id, reference, name), = _files(live_server, 2)[:1]
    login(page, live_server.account("support"))
    panel = _open_panel(page, reference, name)

    panel.get_by_role("button", name="Supprimer ce fichier").click()
    dialog = page.get_by_role("dialog", name="Supprimer ce fichier ?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text("Cette suppression ne peut pas être annulée.")).to_be_visible()
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Annuler").click()
    expect(dialog).to_be_hidden()
    assert not _deleted(live_server, fichier_id)  # cancelling posted nothing

    panel.get_by_role("button", name="Supprimer ce fichier").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")  # the DSFR modal closes on Escape too
    expect(dialog).to_be_hidden()
    assert not _deleted(live_server, fichier_id)

    panel.get_by_role("button", name="Supprimer ce fichier").click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Supprimer ce fichier").click()
    expect(page.get_by_text(f"« {name} » est supprimé")).to_be_visible()
    assert _deleted(live_server, fichier_id)


def test_the_confirmation_works_without_javascript(browser, live_server) -> None:
    context = browser.new_context(base_url=live_server.url, locale="fr-FR",
                                  java_script_enabled=False)
    page = context.new_page()
    try:
        (fichier_id, reference, name), = _files(live_server, 2)[1:]
        login(page, live_server.account("support"))
        panel = _open_panel(page, reference, name)
        dialog = page.get_by_role("dialog", name="Supprimer ce fichier ?")
        expect(dialog).to_be_hidden()
        panel.get_by_role("link", name="Supprimer ce fichier").click()
        expect(dialog).to_be_visible()
        dialog.get_by_role("link", name="Annuler").click()
        expect(dialog).to_be_hidden()
        assert not _deleted(live_server, fichier_id)
        panel.get_by_role("link", name="Supprimer ce fichier").click()
        with page.expect_navigation():
            dialog.get_by_role("button", name="Supprimer ce fichier").click()
        expect(page.get_by_text(f"« {name} » est supprimé")).to_be_visible()
        assert _deleted(live_server, fichier_id)
    finally:
        context.close()


def test_an_invalid_form_moves_the_focus_to_its_error_summary(page) -> None:
    """The browser's English bubbles never show (novalidate): the server's French messages
    are next to the fields and summarised at the top, where the focus goes."""
    page.goto("/connexion")
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    summary = page.locator(".bo-error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_count(2)
    summary.get_by_role("link", name=re.compile("^Mot de passe")).click()
    expect(page.locator("#password")).to_be_focused()
    assert axe_violations(page) == []


def test_an_empty_required_field_stops_the_confirmation_with_french_messages(
        page, live_server) -> None:
    """A plain form with required fields: its DSFR messages, not the browser's bubbles; the
    confirmation modal of an irreversible action does not open on an incomplete form."""
    (fichier_id, reference, name), = _files(live_server, 1)
    login(page, live_server.account("support"))
    page.goto(f"/support/?reference={reference}&nom={name}")
    panel = page.locator("section[data-file]").filter(has_text=name).first
    panel.get_by_label("Motif *").fill("Fichier déposé par erreur")
    panel.get_by_role("button", name="Supprimer ce fichier").click()

    dialog = page.get_by_role("dialog", name="Supprimer ce fichier ?")
    expect(dialog).to_be_hidden()
    summary = panel.locator(".bo-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Le formulaire contient une erreur")
    request_field = panel.get_by_label("Référence de la demande *")
    expect(request_field).to_have_attribute("aria-invalid", "true")
    expect(panel.get_by_text("Ce champ est obligatoire.", exact=True)).to_have_count(1)
    expect(panel.get_by_label("Motif *")).to_have_value("Fichier déposé par erreur")  # kept
    assert axe_violations(page) == []
    summary.get_by_role("link", name=re.compile("^Référence de la demande")).click()
    expect(request_field).to_be_focused()

    request_field.fill("SUP-2026-0099")  # the message goes as the field is filled
    expect(panel.get_by_text("Ce champ est obligatoire.", exact=True)).to_have_count(0)
    panel.get_by_role("button", name="Supprimer ce fichier").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Annuler").click()
    assert not _deleted(live_server, fichier_id)


def test_an_empty_message_is_not_sent_and_says_why(page, live_server) -> None:
    with live_server.app.app_context():
        reference = db.scalar(select(Candidature.reference).order_by(Candidature.id))
    login(page, live_server.account("verificateur"))
    page.goto(f"/instruction/candidatures/{reference}?onglet=messagerie")
    composer = page.locator("form").filter(has=page.get_by_label("Message *"))
    url = page.url
    composer.get_by_role("button", name=re.compile("Envoyer")).first.click()
    expect(composer.locator(".bo-error-summary")).to_be_focused()
    expect(composer.get_by_text("Ce champ est obligatoire.", exact=True)).to_be_visible()
    assert page.url == url  # nothing was posted
