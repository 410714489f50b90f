"""The « Activité » page (issue 18, item 1): what others did on my dossiers and my teams'
since my last visit, in French, filtered by type, démarche and scope, paged by key;
vérificateurs only."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import select

from backoffice.db import db, utcnow
from backoffice.models import Candidature, NotificationPreference
from backoffice.reviewer import activite
from backoffice.workflow import forms
from backoffice.workflow.messages import ecrire
from tests.factories import UserFactory
from tests.helpers import login_as


def _reload(candidature) -> Candidature:
    db.expire_all()
    return db.get(Candidature, candidature.id)


def page(desk, **args) -> str:
    db.commit()
    response = desk.client.get("/instruction/activite", query_string=args)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def rows(html: str) -> list[str]:
    """Each event's row as text, tags removed."""
    return [unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))).strip()
            for row in re.findall(r"<tr data-action=[^>]*>(.*?)</tr>", html, re.S)]


@pytest.fixture
def activity(desk):
    """A dossier I hold, answered by the vendor (a message, its resubmission), and a
    dossier of the team nobody holds, submitted; a Ségur dossier I must never see."""
    mine, team = desk.candidature(), desk.candidature()
    desk.driver().take(_reload(mine), "recevabilite")
    forms.demander_complements(_reload(mine), "recevabilite", actor=desk.me,
                               message="Merci de compléter.")
    db.commit()
    ecrire(_reload(mine), actor=desk.industriel, body="Voici les compléments.")
    desk.driver().submit(_reload(mine), "recevabilite")
    ecrire(_reload(team), actor=desk.colleague, body="Je regarde.", note_interne=True)
    segur = desk.candidature("sons_sas", "depot")
    db.commit()
    return mine, team, segur


def test_lists_what_others_did_in_french_never_my_own_acts_nor_other_parcours(
        desk, activity) -> None:
    mine, team, segur = activity
    html = page(desk)
    text = rows(html)
    assert any(mine.reference in r and "a écrit aux vérificateurs" in r for r in text)
    assert any(mine.reference in r and "a soumis l'étape « Recevabilité »" in r
               for r in text)
    assert any(team.reference in r and "Damien Martin a ajouté une note interne" in r
               for r in text)
    assert not any("a demandé des compléments" in r for r in text)  # mine
    assert segur.reference not in html
    assert "recevabilite.soumettre" not in re.sub(r'data-action="[^"]*"', "", html)


def test_filters_by_type_demarche_and_scope(desk, activity) -> None:
    mine, team, _ = activity
    messages = rows(page(desk, type="messages"))
    assert messages and all("a écrit" in r or "note interne" in r for r in messages)
    depots = rows(page(desk, type="depots"))
    assert depots and all("a soumis" in r for r in depots)
    assert any(mine.reference in r for r in depots)
    # « Mes dossiers »: the team's dossier nobody holds drops out
    own = page(desk, perimetre="miens")
    assert mine.reference in own and team.reference not in own
    # another démarche of my parcours: nothing; another parcours' démarche: 404
    assert "Rien de nouveau" in page(desk, demarche="dmn_pect")
    assert desk.client.get("/instruction/activite?demarche=sons_sas").status_code == 404
    assert desk.client.get("/instruction/activite?periode=hier").status_code == 400
    # the filters are offered by their labels
    html = page(desk)
    assert "Dépôts et réponses de l&#39;industriel" in html or \
        "Dépôts et réponses de l'industriel" in html


def test_a_visit_moves_the_mark_the_next_one_starts_from(desk, activity) -> None:
    mine, _, _ = activity
    assert mine.reference in page(desk)
    seen = db.scalar(select(NotificationPreference.activity_seen_at).where(
        NotificationPreference.user_id == desk.me.id))
    assert seen is not None and abs(seen - utcnow()) < timedelta(minutes=1)
    # the same visit: its pages and filters still list from the previous mark
    assert mine.reference in page(desk, type="depots")
    # a new session (a later visit): nothing happened since the mark
    login_as(desk.client, desk.me)
    assert "Rien de nouveau" in page(desk)
    ecrire(_reload(mine), actor=desk.industriel, body="Une précision.")
    login_as(desk.client, desk.me)
    text = rows(page(desk))
    assert len(text) == 1 and "a écrit aux vérificateurs" in text[0]
    # older periods list again what the last visit showed
    assert len(rows(page(desk, periode="7j"))) > 1


def test_pages_by_key(desk, activity, monkeypatch) -> None:
    monkeypatch.setattr(activite, "PAGE", 2)
    first = page(desk)
    older = re.search(r'href="([^"]*avant=(\d+)[^"]*)"', first)
    assert older and len(rows(first)) == 2
    second = page(desk, avant=older.group(2))
    assert rows(second) and not set(rows(second)) & set(rows(first))
    assert desk.client.get("/instruction/activite?avant=x").status_code == 400


@pytest.mark.parametrize("roles", [["college"], ["support"], ["admin"]])
def test_only_verificateurs_see_it(desk, roles) -> None:
    login_as(desk.client, UserFactory(roles=roles))
    assert desk.client.get("/instruction/activite").status_code == 403


def test_anonymous_goes_to_the_login_page(client, ctx) -> None:
    response = client.get("/instruction/activite")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_keeps_the_budget(desk, activity, query_recorder) -> None:
    page(desk)
    with query_recorder:
        page(desk, type="messages")
    assert query_recorder.count <= 8, query_recorder.queries
    login_as(desk.client, desk.me)  # a visit's first page: the mark read and written
    with query_recorder:
        page(desk)
    assert query_recorder.count <= 8, query_recorder.queries
