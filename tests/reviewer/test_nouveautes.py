"""« Quoi de neuf » (issue 18, item 1): « Nouveau » / « Modifié » on the queue's rows and
on the dossier's tabs, per user, from what others did since the user last opened the
dossier; « compléments reçus le … » with the delay resumed, not restarted."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from backoffice.db import db, simulated_clock, utcnow
from backoffice.models import Candidature, DelayRule, DossierSeen
from backoffice.workflow import forms
from backoffice.workflow.messages import ecrire
from tests.factories import fichier_for
from tests.helpers import login_as


def _reload(candidature) -> Candidature:
    db.expire_all()
    return db.get(Candidature, candidature.id)


def as_user(desk, user) -> None:
    """Sign in as `user` unless signed in already (a sign-in starts a new session, and
    the dossier visit kept in it with it)."""
    if getattr(desk.client, "signed_in_as", None) != user.id:
        login_as(desk.client, user)
        desk.client.signed_in_as = user.id
    else:
        db.commit()  # let go of the database (SQLite: the request must be able to write)


def queue_mark(desk, user, candidature) -> str | None:
    """The mark on the candidature's row of `user`'s queue (« Tous »: every status)."""
    as_user(desk, user)
    html = desk.client.get("/instruction/file?vue=tous").get_data(as_text=True)
    row = re.search(rf'<tr data-reference="{candidature.reference}">(.*?)</tr>', html, re.S)
    assert row, f"{candidature.reference} not in the queue"
    mark = re.search(r'data-testid="marque">([^<]+)<', row.group(1))
    return mark.group(1) if mark else None


def open_dossier(desk, user, candidature, tab: str = "formulaire") -> str:
    as_user(desk, user)
    response = desk.client.get(f"/instruction/candidatures/{candidature.reference}"
                               f"?onglet={tab}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def tab_marks(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="marque-(\w+)">([^<]+)<', html))


def resubmit_after_complements(desk, candidature) -> None:
    driver = desk.driver()
    forms.demander_complements(_reload(candidature), "recevabilite", actor=desk.me,
                               message="Merci de joindre la déclaration.")
    db.commit()
    driver.submit(_reload(candidature), "recevabilite")
    db.commit()


def test_queue_marks_are_per_user_and_go_once_the_dossier_is_opened(desk) -> None:
    candidature = desk.candidature()
    # nobody holds it and nobody opened it: news for both vérificateurs of the team
    assert queue_mark(desk, desk.me, candidature) == "Nouveau"
    assert queue_mark(desk, desk.colleague, candidature) == "Nouveau"
    desk.driver().take(_reload(candidature), "recevabilite")
    db.commit()
    # mine now: still news to me; a colleague's dossier they never opened is not theirs
    assert queue_mark(desk, desk.me, candidature) == "Nouveau"
    assert queue_mark(desk, desk.colleague, candidature) is None

    open_dossier(desk, desk.me, candidature)
    open_dossier(desk, desk.colleague, candidature)
    assert queue_mark(desk, desk.me, candidature) is None
    assert queue_mark(desk, desk.colleague, candidature) is None

    resubmit_after_complements(desk, candidature)
    # the vendor resubmitted: changed for both; my own request is not news to me, the
    # vendor's answer is
    assert queue_mark(desk, desk.me, candidature) == "Modifié"
    assert queue_mark(desk, desk.colleague, candidature) == "Modifié"
    open_dossier(desk, desk.me, candidature)
    assert queue_mark(desk, desk.me, candidature) is None
    assert queue_mark(desk, desk.colleague, candidature) == "Modifié"


def test_what_i_did_myself_is_not_news(desk) -> None:
    candidature = desk.candidature()
    desk.driver().take(_reload(candidature), "recevabilite")
    db.commit()
    open_dossier(desk, desk.me, candidature)
    ecrire(_reload(candidature), actor=desk.me, body="Nous regardons votre dossier.")
    db.commit()
    assert queue_mark(desk, desk.me, candidature) is None
    assert queue_mark(desk, desk.colleague, candidature) is None  # never opened, not theirs


def test_tabs_say_what_changed_since_my_last_visit_and_keep_it_for_the_visit(desk) -> None:
    candidature, other = desk.candidature(), desk.candidature()
    desk.driver().take(_reload(candidature), "recevabilite")
    db.commit()
    assert tab_marks(open_dossier(desk, desk.me, candidature)) == {}  # first visit
    open_dossier(desk, desk.me, other)  # the visit ends

    resubmit_after_complements(desk, candidature)
    ecrire(_reload(candidature), actor=desk.industriel, body="Voici la déclaration.")
    db.commit()
    html = open_dossier(desk, desk.me, candidature)
    # my own request for compléments (Historique) is not news to me
    assert tab_marks(html) == {"formulaire": "Modifié", "messagerie": "Nouveau"}
    # another tab of the same visit keeps the marks: the Formulaire tab did not hide them
    assert tab_marks(open_dossier(desk, desk.me, candidature, "pieces"))["messagerie"] \
        == "Nouveau"
    # the colleague never opened it: no marks on their first visit
    assert tab_marks(open_dossier(desk, desk.colleague, candidature)) == {}

    open_dossier(desk, desk.me, other)  # the visit ends; the next one starts clean
    assert tab_marks(open_dossier(desk, desk.me, candidature)) == {}


def test_a_new_file_marks_the_pieces_tab(desk) -> None:
    candidature, other = desk.candidature(), desk.candidature()
    desk.driver().take(_reload(candidature), "recevabilite")
    db.commit()
    forms.demander_complements(_reload(candidature), "recevabilite", actor=desk.me,
                               message="Merci de joindre la déclaration.")
    db.commit()
    open_dossier(desk, desk.me, candidature)
    open_dossier(desk, desk.me, other)
    fresh = _reload(candidature)
    forms.ajouter_piece(fresh, "recevabilite", "declaration_marquage_ce",
                        fichier_for(fresh, "marquage.pdf"), actor=desk.industriel)
    db.commit()
    assert tab_marks(open_dossier(desk, desk.me, candidature)) == {"pieces": "Nouveau"}
    assert queue_mark(desk, desk.me, candidature) is None  # opened since


def test_resubmitted_step_shows_when_the_complements_came_and_the_resumed_delay(desk) -> None:
    """design.md, Delays: the clock pauses while the vendor has the file and goes on, on
    resubmission, with what was left — neither restarted nor counting the vendor's 40
    days (which would make the dossier 15 days late the moment it comes back)."""
    rule = db.scalar(select(DelayRule).where(DelayRule.demarche_code == "dmn_nom_de_marque",
                                             DelayRule.step == "recevabilite"))
    rule.days, rule.working_days = 30, False
    with simulated_clock(utcnow() - timedelta(days=45)) as clock:
        candidature = desk.candidature()
        desk.driver().take(_reload(candidature), "recevabilite")
        clock.advance(days=5)
        forms.demander_complements(_reload(candidature), "recevabilite", actor=desk.me,
                                   message="Pièce manquante")
        db.commit()
    step = _reload(candidature).step("recevabilite")
    assert step.due_at is None and step.remaining_days == pytest.approx(25, abs=0.01)
    desk.driver().submit(_reload(candidature), "recevabilite")  # 40 days later
    db.commit()
    step = _reload(candidature).step("recevabilite")
    assert step.status == "soumise" and step.paused_at is None
    assert abs(step.resumed_at - utcnow()) < timedelta(minutes=1)
    assert step.paused_days == pytest.approx(40, abs=0.01)
    assert abs(step.due_at - step.resumed_at - timedelta(days=25)) < timedelta(minutes=1)
    html = open_dossier(desk, desk.me, candidature)
    echeance = re.search(r'data-testid="echeance">(.*?)</dd>', html, re.S).group(1)
    assert "en retard" not in echeance and "24 j restants" in echeance
    received = re.search(r'data-testid="complements-recus">(.*?)</dd>', html, re.S).group(1)
    assert "Délai repris là où il s" in received and "suspendu 40 j" in received
    # the queue says the same: days left, not late
    as_user(desk, desk.me)
    queue = desk.client.get("/instruction/file").get_data(as_text=True)
    row = re.search(rf'<tr data-reference="{candidature.reference}">(.*?)</tr>', queue, re.S)
    assert "En retard" not in row.group(1) and ">24 j<" in row.group(1)


def test_seen_marks_do_not_move_backwards(desk) -> None:
    from backoffice.reviewer.nouveautes import seen_statement

    candidature = desk.candidature()
    later, earlier = utcnow(), utcnow() - timedelta(days=1)
    db.execute(seen_statement(desk.me.id, candidature.id, later))
    db.execute(seen_statement(desk.me.id, candidature.id, earlier))
    seen = db.get(DossierSeen, (desk.me.id, candidature.id))
    db.refresh(seen)
    assert seen.seen_at == later


@pytest.mark.parametrize("tab", ["formulaire", "pieces", "preuves", "messagerie",
                                 "historique", "produit"])
def test_a_visit_with_news_keeps_the_dossier_budget(desk, query_recorder, tab) -> None:
    """The worst page of a visit: the first, with news to mark and the seen mark (and the
    Messagerie's read mark) to write, for the assignee who can decide."""
    candidature, other = desk.candidature(), desk.candidature()
    desk.driver().take(_reload(candidature), "recevabilite")
    db.commit()
    open_dossier(desk, desk.me, candidature)
    open_dossier(desk, desk.me, other)
    ecrire(_reload(candidature), actor=desk.industriel, body="Une question.")
    path = f"/instruction/candidatures/{candidature.reference}?onglet={tab}"
    as_user(desk, desk.me)
    with query_recorder:
        html = desk.client.get(path).get_data(as_text=True)
    assert tab_marks(html) == {"messagerie": "Nouveau"}
    assert any(q.lstrip().upper().startswith("INSERT INTO DOSSIER_SEEN")
               for q in query_recorder.queries)
    assert query_recorder.count <= 8, "\n".join(q[:120] for q in query_recorder.queries)


def test_the_heaviest_dossier_page_with_news_keeps_the_budget(desk, query_recorder) -> None:
    """A ligne générique with its zip (the panel reads it), the Formulaire tab with its
    profils, the decision panel's pièces, news to mark and the seen mark to write."""
    from backoffice.demo_files import preuves_zip

    candidature = desk.candidature("dmn_ligne_generique")
    response = desk.api.upload(f"/candidatures/{candidature.reference}/preuves-pour-avis",
                               preuves_zip(["INS 1.1"], {"divers/a.txt": b"a"}),
                               "preuves.zip")
    assert response.status_code == 201, response.json
    desk.driver().take(_reload(candidature), "recevabilite")
    db.commit()
    open_dossier(desk, desk.me, candidature)
    open_dossier(desk, desk.me, desk.candidature())
    ecrire(_reload(candidature), actor=desk.industriel, body="Une question.")
    path = f"/instruction/candidatures/{candidature.reference}?onglet=formulaire"
    as_user(desk, desk.me)
    with query_recorder:
        html = desk.client.get(path).get_data(as_text=True)
    assert 'data-testid="pour-avis"' in html and tab_marks(html) == {"messagerie": "Nouveau"}
    assert "Général" in html  # a profil, by its label
    assert query_recorder.count <= 8, "\n".join(q[:120] for q in query_recorder.queries)


def test_a_working_day_delay_is_shown_in_working_days(desk) -> None:
    """An admin set the step's delay in working days: the dossier counts what is left in
    working days too (here 10 working days from now, two weeks of calendar)."""
    from backoffice.workflow import delays

    rule = db.scalar(select(DelayRule).where(DelayRule.demarche_code == "dmn_nom_de_marque",
                                             DelayRule.step == "recevabilite"))
    rule.days, rule.working_days = 10, True
    candidature = desk.candidature()
    step = _reload(candidature).step("recevabilite")
    step.due_at = delays.add_days(utcnow(), 10.5, working=True)
    db.commit()
    html = open_dossier(desk, desk.me, candidature)
    echeance = re.search(r'data-testid="echeance">(.*?)</dd>', html, re.S).group(1)
    assert "10 j ouvrés restants" in echeance
