"""A 12-exigence section reviewed on one page (issue 18, item 5): verdicts saved as they
are given, without a reload; a non conforme without its comment gets its error next to
the exigence; « tout conforme » (confirmed) fills the rest. At most 14 clicks and 2 page
loads, and axe-core finds no serious or critical violation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import CandidatureExigence, ExigenceVerdict, Preuve, SectionReview, User
from tests.e2e.conftest import axe_violations, confirm, login

pytestmark = pytest.mark.browser
CODE = "DOUZE"


def _twelve_exigences(live_server, email: str) -> tuple[str, list[str]]:
    """Test set-up: a section of 12 exigences, en revue by the vérificateur account."""
    from tests.factories import CandidatureFactory, fichier_for

    with live_server.app.app_context():
        user = db.scalar(select(User).where(User.email == email))
        candidature = CandidatureFactory(at="preuves", status_at_step="en_cours",
                                         deciders=[user])
        section = SectionReview(candidature_id=candidature.id, code=CODE,
                                title="Douze exigences", status="en_revue", round=1,
                                assignee_id=user.id)
        section.exigences = [
            CandidatureExigence(code=f"DZ {i}", title=f"Exigence {i}", position=i,
                                statement="Le produit respecte l'exigence.",
                                expected_preuves=[{"code": f"DZ {i}.1", "label": "Capture"}])
            for i in range(1, 13)]
        db.add(section)
        db.flush()
        for exigence in section.exigences:
            db.add(Preuve(candidature_id=candidature.id, exigence_id=exigence.id,
                          fichier_id=fichier_for(candidature, f"{exigence.code}.pdf").id,
                          round_added=1))
        db.commit()
        return candidature.reference, [e.code for e in section.exigences]


def _saved(live_server, reference: str) -> dict[str, str]:
    from backoffice.models import Candidature

    with live_server.app.app_context():
        rows = db.execute(
            select(CandidatureExigence.code, ExigenceVerdict.verdict)
            .join(ExigenceVerdict, ExigenceVerdict.exigence_id == CandidatureExigence.id)
            .join(SectionReview, SectionReview.id == CandidatureExigence.section_id)
            .join(Candidature, Candidature.id == SectionReview.candidature_id)
            .where(Candidature.reference == reference, SectionReview.code == CODE)).all()
        return dict(rows)


def test_a_twelve_exigence_section_in_few_clicks_and_two_page_loads(page, live_server) -> None:
    account = live_server.account("verificateur")
    reference, codes = _twelve_exigences(live_server, account["email"])
    login(page, account)
    loads: list[str] = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    clicks = 0

    def click(locator) -> None:
        nonlocal clicks
        clicks += 1
        locator.click()

    page.goto(f"/instruction/candidatures/{reference}/sections/{CODE}")
    status = page.locator("#section-save-status")
    first = page.locator(f'section[data-code="{codes[0]}"]')
    click(first.locator("label", has_text=re.compile("^Non conforme$")))
    error = first.get_by_text("Un commentaire est obligatoire pour une exigence non conforme.")
    expect(error).to_be_visible()  # next to its exigence, saved nowhere
    assert axe_violations(page) == []
    first.locator("textarea").fill("La capture n'est pas datée.")
    expect(status).to_have_text("Enregistré")
    expect(error).to_have_count(0)
    expect(first.locator(".bo-verdict-badge")).to_have_text("Non conforme")
    expect(page.locator("#modifications-message")).to_have_value(
        re.compile("DZ 1 — Exigence 1 : La capture n'est pas datée."))

    second = page.locator(f'section[data-code="{codes[1]}"]')
    click(second.locator("label", has_text=re.compile("^Non applicable$")))
    second.locator("textarea").fill("Le produit n'exporte aucune donnée.")
    expect(status).to_have_text("Enregistré")
    assert _saved(live_server, reference) == {"DZ 1": "non_conforme",
                                              "DZ 2": "non_applicable"}
    assert len(loads) == 1  # saved without a reload

    confirm(page, page.locator("#section-verdicts"), "Tout conforme")
    clicks += 2  # the button, then the dialog's confirmation
    expect(page.get_by_text("10 verdict(s) enregistré(s).")).to_be_visible()
    assert _saved(live_server, reference) == {
        "DZ 1": "non_conforme", "DZ 2": "non_applicable",
        **{code: "conforme" for code in codes[2:]}}
    expect(page.locator(".bo-verdict-badge", has_text=re.compile("^Conforme$"))).to_have_count(10)
    assert clicks <= 14, clicks
    assert len(loads) <= 2, loads
    assert axe_violations(page) == []


def test_without_javascript_the_form_posts_every_verdict(browser, live_server) -> None:
    """The same page with JavaScript off: « Enregistrer les verdicts » posts the whole form;
    a refused verdict comes back next to its exigence, focused, the typed ones saved;
    « Tout conforme » opens its dialog as an anchor target and posts the form."""
    account = live_server.account("verificateur")
    reference, codes = _twelve_exigences(live_server, account["email"])
    context = browser.new_context(base_url=live_server.url, locale="fr-FR",
                                  java_script_enabled=False)
    page = context.new_page()
    try:
        login(page, account)
        page.goto(f"/instruction/candidatures/{reference}/sections/{CODE}")
        first = page.locator(f'section[data-code="{codes[0]}"]')
        second = page.locator(f'section[data-code="{codes[1]}"]')
        first.locator("label", has_text=re.compile("^Non conforme$")).click()
        second.locator("label", has_text=re.compile("^Conforme$")).click()
        with page.expect_navigation():
            page.get_by_role("button", name="Enregistrer les verdicts").click()
        expect(first.get_by_text("Un commentaire est obligatoire pour une exigence "
                                 "non conforme.")).to_be_visible()
        expect(first.locator("textarea")).to_be_focused()
        expect(first.get_by_label("Non conforme", exact=True)).to_be_checked()  # kept
        assert _saved(live_server, reference) == {"DZ 2": "conforme"}

        first.locator("textarea").fill("Illisible.")
        page.get_by_role("link", name="Tout conforme").click()
        dialog = page.locator("#confirmer-tout-conforme")
        expect(dialog).to_be_visible()
        with page.expect_navigation():
            dialog.get_by_role("button", name="Tout conforme").click()
        expect(page.get_by_text("11 verdict(s) enregistré(s).")).to_be_visible()
        assert _saved(live_server, reference) == {
            "DZ 1": "non_conforme", **{code: "conforme" for code in codes[1:]}}
    finally:
        context.close()


def test_concurrent_saves_on_one_section_never_answer_500(page, live_server) -> None:
    """Tabs saving the same exigence at once (the page fires its fetch() calls together):
    each answer is a save (the last writer wins, PostgreSQL's row lock orders them) or the
    409 `conflict` with its French message (SQLite's optimistic check); never a 500, and
    the verdict left is one that was sent."""
    account = live_server.account("verificateur")
    reference, codes = _twelve_exigences(live_server, account["email"])
    login(page, account)
    page.goto(f"/instruction/candidatures/{reference}/sections/{CODE}")
    exigence = page.locator(f'section[data-code="{codes[0]}"]').get_attribute("data-exigence")
    sent = [["conforme", ""], ["non_conforme", "Illisible."], ["non_applicable", "Sans objet."],
            ["non_conforme", "Pas daté."]]
    answers = page.evaluate("""async ([exigence, sent]) => {
        const form = document.getElementById("section-verdicts");
        return Promise.all(sent.map(async ([verdict, comment]) => {
            const data = new FormData(form);
            data.set(`verdict-${exigence}`, verdict);
            data.set(`comment-${exigence}`, comment);
            const response = await fetch(form.action, {method: "POST", body: data,
                                                        headers: {Accept: "application/json"}});
            const type = response.headers.get("Content-Type") || "";
            return [response.status, type.startsWith("application/json")
                    ? await response.json() : await response.text(), response.redirected];
        }));
    }""", [exigence, sent])
    for status, body, redirected in answers:
        assert not redirected and (status == 200 or (
            status == 409 and body["code"] == "conflict" and "en même temps" in body["message"])
        ), (status, str(body)[:2000])
    assert any(status == 200 for status, _, _ in answers)
    assert _saved(live_server, reference)[codes[0]] in {verdict for verdict, _ in sent}
