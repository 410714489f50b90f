"""The section review on one form (issue 18, item 5): a plain POST of the whole form saves
every verdict typed; a refused one comes back next to its exigence with what was typed,
the others saved; « tout conforme » fills only the exigences not judged yet; the JSON
answers of the autosave; who may save; the page's query budget."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from backoffice.db import db
from backoffice.models import (
    AuditEvent,
    CandidatureExigence,
    ExigenceVerdict,
    Preuve,
    SectionReview,
)
from backoffice.workflow.definitions import SECTION_STATUSES
from tests.factories import CandidatureFactory, ProductFactory, UserFactory, fichier_for
from tests.helpers import clear_session, csrf_token, login_as

JSON = {"Accept": "application/json"}


def _section(desk, exigences: int = 12, round_: int = 1, status: str = "en_revue"):
    """A section of `exigences` exigences, en revue by `desk.me`, one file each."""
    candidature = CandidatureFactory(product=ProductFactory(organisation=desk.organisation),
                                     at="preuves", status_at_step="en_cours",
                                     deciders=[desk.me])
    section = SectionReview(candidature_id=candidature.id, code="SYN", title="Synthétique",
                            status=status, round=round_, assignee_id=desk.me.id)
    section.exigences = [CandidatureExigence(code=f"SYN {i}", title=f"Exigence {i}",
                                             statement="Énoncé", position=i,
                                             expected_preuves=[])
                         for i in range(1, exigences + 1)]
    db.add(section)
    db.flush()
    for exigence in section.exigences:
        db.add(Preuve(candidature_id=candidature.id, exigence_id=exigence.id,
                      fichier_id=fichier_for(candidature, "preuve.pdf").id, round_added=1))
    db.commit()
    return candidature, section


def _url(candidature, suffix: str = "") -> str:
    return f"/instruction/candidatures/{candidature.reference}/sections/SYN{suffix}"


def _post(desk, candidature, fields: dict, headers=None, **extra):
    data = {**fields, **extra, "csrf_token": csrf_token(desk.client, "/")}
    return desk.client.post(_url(candidature, "/verdicts"), data=data, headers=headers or {})


def _fields(section, verdicts: dict[int, tuple[str, str]]) -> dict:
    """The form as a browser posts it: every comment field, the radios chosen."""
    fields = {f"comment-{e.id}": "" for e in section.exigences}
    for index, (verdict, comment) in verdicts.items():
        exigence = section.exigences[index]
        if verdict:
            fields[f"verdict-{exigence.id}"] = verdict
        fields[f"comment-{exigence.id}"] = comment
    return fields


def _verdicts(section, round_: int | None = None) -> dict[str, tuple[str, str | None]]:
    db.expire_all()
    round_ = round_ or section.round
    rows = db.execute(select(CandidatureExigence.code, ExigenceVerdict.verdict,
                             ExigenceVerdict.comment)
                      .join(ExigenceVerdict, ExigenceVerdict.exigence_id == CandidatureExigence.id)
                      .where(CandidatureExigence.section_id == section.id,
                             ExigenceVerdict.round == round_)).all()
    return {code: (verdict, comment) for code, verdict, comment in rows}


def _audits(candidature) -> int:
    return db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.candidature_id == candidature.id,
        AuditEvent.action == "section.juger_exigence"))


def _exigence_html(html: str, code: str) -> str:
    return html.split(f'data-code="{code}"')[1].split("</section>")[0]


def test_a_plain_post_of_the_form_saves_every_typed_verdict(desk) -> None:
    candidature, section = _section(desk)
    page = desk.client.get(_url(candidature)).get_data(as_text=True)
    assert page.count('name="verdict-') == 12 * 3 and 'id="section-verdicts"' in page
    assert "js/section_review.js" in page
    fields = _fields(section, {0: ("conforme", ""),
                               1: ("non_conforme", "La capture n'est pas datée."),
                               2: ("non_applicable", "Sans objet pour ce produit.")})
    response = _post(desk, candidature, fields)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(_url(candidature))
    assert _verdicts(section) == {"SYN 1": ("conforme", None),
                                  "SYN 2": ("non_conforme", "La capture n'est pas datée."),
                                  "SYN 3": ("non_applicable", "Sans objet pour ce produit.")}
    assert _audits(candidature) == 3  # each verdict through the workflow
    # the same form again (what an autosave sends): nothing new is recorded
    assert _post(desk, candidature, fields).status_code == 302
    assert _audits(candidature) == 3
    html = desk.client.get(_url(candidature)).get_data(as_text=True)
    assert "La capture n&#39;est pas datée." in _exigence_html(html, "SYN 2")


def test_a_refused_verdict_comes_back_next_to_its_exigence_the_others_saved(desk) -> None:
    candidature, section = _section(desk)
    fields = _fields(section, {0: ("conforme", ""), 1: ("non_conforme", ""),
                               2: ("non_applicable", "Sans objet."), 3: ("", "Un avis")})
    response = _post(desk, candidature, fields)
    assert response.status_code == 200  # the page again, the valid verdicts committed
    html = response.get_data(as_text=True)
    second = _exigence_html(html, "SYN 2")
    assert "Un commentaire est obligatoire pour une exigence non conforme." in second
    assert re.search(r'value="non_conforme" checked', second)  # what was typed is kept
    assert re.search(r'<textarea[^>]*fr-input--error[^>]*data-bo-focus autofocus', second)  # focus
    fourth = _exigence_html(html, "SYN 4")
    assert "Choisissez un verdict pour enregistrer ce commentaire." in fourth
    assert ">Un avis</textarea>" in fourth
    assert "Sans objet.</textarea>" in _exigence_html(html, "SYN 3")
    assert html.count("data-bo-focus") == 1
    assert _verdicts(section) == {"SYN 1": ("conforme", None),
                                  "SYN 3": ("non_applicable", "Sans objet.")}


def test_the_autosave_answers_json_with_a_stable_code_per_refusal(desk) -> None:
    candidature, section = _section(desk)
    fields = _fields(section, {0: ("non_conforme", ""), 1: ("non_conforme", "Pas daté.")})
    response = _post(desk, candidature, fields, headers=JSON)
    assert response.status_code == 200
    data = response.get_json()
    assert data["ok"] is False and data["saved"] == ["SYN 2"]
    assert data["errors"] == [{"exigence": "SYN 1", "code": "comment_required",
                               "message": "Un commentaire est obligatoire pour une exigence "
                                          "non conforme."}]
    assert data["verdicts"] == {"SYN 2": "non_conforme"}
    assert "SYN 2 — Exigence 2 : Pas daté." in data["message"]
    assert data["pending"][:2] == ["SYN 1", "SYN 2"]
    fields = _fields(section, {0: ("non_conforme", "Illisible."),
                               1: ("conforme", "")})
    data = _post(desk, candidature, fields, headers=JSON).get_json()
    assert data["ok"] is True and data["errors"] == [] and data["saved"] == ["SYN 1", "SYN 2"]
    # the last writer wins, per exigence
    assert _verdicts(section)["SYN 2"] == ("conforme", None)


def test_tout_conforme_fills_only_the_exigences_not_judged_yet(desk) -> None:
    candidature, section = _section(desk, exigences=7, round_=2)
    me = desk.me.id
    earlier = {0: "conforme", 1: "non_conforme", 2: "conforme", 3: "conforme"}
    for index, verdict in earlier.items():
        section.exigences[index].verdicts.append(ExigenceVerdict(
            round=1, verdict=verdict, author_id=me, comment="Non." if index == 1 else None))
    section.exigences[2].verdicts.append(ExigenceVerdict(round=2, verdict="non_conforme",
                                                         author_id=me, comment="Revu."))
    db.add(Preuve(candidature_id=candidature.id, exigence_id=section.exigences[3].id,
                  fichier_id=fichier_for(candidature, "v2.pdf").id, round_added=2))
    db.commit()
    html = desk.client.get(_url(candidature)).get_data(as_text=True)
    assert '<details class="bo-settled">' in _exigence_html(html, "SYN 1")  # settled: folded
    assert "bo-settled" not in _exigence_html(html, "SYN 4")  # a new file: not settled
    fields = _fields(section, {2: ("non_conforme", "Revu."),
                               4: ("non_applicable", "Sans objet."),
                               5: ("non_conforme", "")})
    response = _post(desk, candidature, fields, tout_conforme="1")
    assert "Un commentaire est obligatoire" in response.get_data(as_text=True)
    assert _verdicts(section) == {
        "SYN 2": ("conforme", None),  # non conforme in round 1, not judged in round 2
        "SYN 3": ("non_conforme", "Revu."),  # judged in this round: unchanged
        "SYN 4": ("conforme", None),  # conforme earlier, but a file changed
        "SYN 5": ("non_applicable", "Sans objet."),  # typed
        "SYN 7": ("conforme", None),
    }  # SYN 1 settled (no new row), SYN 6 refused: neither filled


def test_tout_conforme_without_javascript_redirects_back(desk) -> None:
    candidature, section = _section(desk, exigences=12)
    response = _post(desk, candidature, _fields(section, {}), tout_conforme="1")
    assert response.status_code == 302
    assert set(_verdicts(section).values()) == {("conforme", None)}
    assert len(_verdicts(section)) == 12
    page = desk.client.get(_url(candidature)).get_data(as_text=True)
    assert "12 verdict(s) enregistré(s)." in page


def test_only_the_sections_reviewer_may_save(desk, client) -> None:
    candidature, section = _section(desk)
    fields = _fields(section, {0: ("conforme", "")})
    login_as(client, desk.colleague)  # same team, not the section's reviewer
    assert _post(desk, candidature, fields).status_code == 403
    refused = _post(desk, candidature, fields, headers=JSON)
    assert refused.status_code == 403 and refused.get_json()["code"] == "not_allowed"
    login_as(client, desk.segur)  # another parcours: the dossier does not exist for them
    assert _post(desk, candidature, fields).status_code == 404
    login_as(client, UserFactory(roles=["college"]))
    assert _post(desk, candidature, fields).status_code == 403
    login_as(client, UserFactory(roles=["admin"]))
    assert _post(desk, candidature, fields).status_code == 403
    assert _verdicts(section) == {}
    # the vendor has no back-office session: its API token opens nothing here
    clear_session(client)
    vendor = client.post(_url(candidature, "/verdicts"),
                         data={**fields, "csrf_token": csrf_token(client)},
                         headers={"Authorization": f"Bearer {desk.api.token}"})
    assert vendor.status_code == 302 and vendor.headers["Location"].startswith("/connexion")
    assert _verdicts(section) == {}


def test_a_section_not_en_revue_is_refused_with_its_code(desk) -> None:
    candidature, section = _section(desk, status="soumise")
    response = _post(desk, candidature, _fields(section, {0: ("conforme", "")}),
                     headers=JSON)
    assert response.status_code == 409
    assert response.get_json()["code"] == "invalid_status"
    page = desk.client.get(_url(candidature)).get_data(as_text=True)
    assert 'id="section-verdicts"' not in page  # nothing to judge, no form


def test_a_concurrent_save_gets_a_clear_conflict_not_a_500(desk, monkeypatch) -> None:
    from sqlalchemy.orm.exc import StaleDataError

    from backoffice.reviewer import section_form

    candidature, section = _section(desk)

    def stale(*args, **kwargs):
        raise StaleDataError("candidature version changed")

    monkeypatch.setattr(section_form, "juger_section", stale)
    response = _post(desk, candidature, _fields(section, {0: ("conforme", "")}),
                     headers=JSON)
    assert response.status_code == 409 and response.get_json()["code"] == "conflict"
    plain = _post(desk, candidature, _fields(section, {0: ("conforme", "")}))
    assert plain.status_code == 302
    assert "en même temps" in desk.client.get(_url(candidature)).get_data(as_text=True)


@pytest.mark.parametrize("exigences", (3, 12))
def test_the_review_page_keeps_the_query_budget(desk, query_recorder, exigences) -> None:
    from tests.reviewer.test_query_budgets import BUDGET

    candidature, section = _section(desk, exigences=exigences, round_=2)
    for exigence in section.exigences:
        exigence.verdicts.append(ExigenceVerdict(round=1, verdict="conforme",
                                                 author_id=desk.me.id))
    db.commit()
    desk.client.get(_url(candidature))
    with query_recorder:
        response = desk.client.get(_url(candidature))
    assert response.status_code == 200
    assert response.get_data(as_text=True).count('<details class="bo-settled">') == exigences
    assert query_recorder.count <= BUDGET, "\n".join(q[:150] for q in query_recorder.queries)


@pytest.mark.parametrize("status", [s for s in SECTION_STATUSES if s != "en_revue"])
def test_juger_section_refuses_a_section_not_en_revue_and_writes_nothing(desk, status) -> None:
    """The workflow itself, over every other source status: a refusal, nothing written
    (not even the verdicts that would have been valid)."""
    from backoffice.workflow.base import TransitionError, now
    from backoffice.workflow.section_verdicts import juger_section

    candidature, section = _section(desk, exigences=3, status="soumise")
    section.status = status
    section.decided_at = now() if status == "validee" else None
    db.commit()
    with pytest.raises(TransitionError) as refused:
        juger_section(candidature, "SYN", actor=desk.me, tout_conforme=True,
                      typed={"SYN 1": ("conforme", "")})
    assert refused.value.code == "invalid_status"
    db.rollback()
    assert _verdicts(section) == {} and _audits(candidature) == 0


def test_juger_section_records_one_audit_event_per_verdict(desk) -> None:
    from backoffice.workflow.section_verdicts import juger_section

    candidature, section = _section(desk, exigences=4)
    result = juger_section(candidature, "SYN", actor=desk.me, tout_conforme=True,
                           typed={"SYN 2": ("non_conforme", " Illisible. ")})
    assert result.saved == ["SYN 2", "SYN 1", "SYN 3", "SYN 4"] and not result.errors
    db.flush()
    events = db.scalars(select(AuditEvent).where(
        AuditEvent.candidature_id == candidature.id,
        AuditEvent.action == "section.juger_exigence").order_by(AuditEvent.id)).all()
    assert [(e.after["exigence"], e.after["verdict"], e.after["comment"]) for e in events] == [
        ("SYN 2", "non_conforme", "Illisible."), ("SYN 1", "conforme", None),
        ("SYN 3", "conforme", None), ("SYN 4", "conforme", None)]
    assert {e.actor_id for e in events} == {desk.me.id}
