"""The collège's pages (issue 17, item 3): the home lists the dossiers à programmer and the
member's next séances; a séance that has not started offers no vote, decision or closing;
a conflict of interest is declared on a second page with a reason and a confirmation,
whose reason the président reads and the other members do not."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from backoffice.db import db, utcnow
from backoffice.models import AgendaItem, AuditEvent, Conflict
from tests.factories import CandidatureFactory, UserFactory
from tests.helpers import csrf_token, login_as
from tests.security.seats import seat


def _item(seance) -> AgendaItem:
    return db.scalar(select(AgendaItem).where(AgendaItem.seance_id == seance.id))


def test_home_lists_the_dossiers_a_programmer_and_my_next_seances(client, ctx) -> None:
    member, other = UserFactory(roles=["college"]), UserFactory(roles=["college"])
    waiting = CandidatureFactory(at="college", status_at_step="a_programmer")
    inscribed = CandidatureFactory(at="college", status_at_step="inscrite")
    mine = seat([member], inscribed)
    mine.label, mine.date = "Séance de janvier", utcnow() + timedelta(days=30)
    theirs = seat([other], CandidatureFactory(at="college", status_at_step="inscrite"))
    theirs.label = "Séance des autres"
    closed = seat([member], CandidatureFactory(at="college", status_at_step="a_programmer"),
                  status="close")
    closed.label = "Séance passée"
    login_as(client, member)
    html = client.get("/college/").get_data(as_text=True)
    upcoming = re.search(r'data-testid="prochaines-seances">(.*?)</ul>', html, re.S).group(1)
    assert "Séance de janvier" in upcoming and "1 dossier à l'ordre du jour" in upcoming
    assert "Séance des autres" not in upcoming and "Séance passée" not in upcoming
    table = re.search(r'data-testid="a-programmer">(.*?)</table>', html, re.S).group(1)
    assert f'data-reference="{waiting.reference}"' in table
    assert waiting.product.label in table and waiting.organisation.name in table
    assert inscribed.reference not in table
    # a member reads only the dossiers of their séances: no link from the list
    assert f"/college/dossiers/{waiting.reference}" not in html
    admin = UserFactory(roles=["admin"])
    login_as(client, admin)
    html = client.get("/college/").get_data(as_text=True)
    assert "Séances à venir et en cours" in html and "Séance des autres" in html
    assert f"/college/dossiers/{waiting.reference}" in html


def test_a_seance_not_started_offers_no_vote_decision_nor_closing(client, ctx) -> None:
    president, member = UserFactory(roles=["college"]), UserFactory(roles=["college"])
    seance = seat([president, member], CandidatureFactory(at="college",
                                                          status_at_step="inscrite"))
    seance.date = utcnow() + timedelta(hours=2)
    item = _item(seance)
    login_as(client, president)
    html = client.get(f"/college/seances/{seance.id}").get_data(as_text=True)
    assert "La séance commence le" in html
    for absent in ("Voter", "Enregistrer la décision", "Clore la séance"):
        assert absent not in html, absent
    assert "Déclarer un conflit d'intérêts" in html  # possible before the start
    # the operations refuse too, with the same French message
    token = csrf_token(client, f"/college/seances/{seance.id}")
    response = client.post(f"/college/seances/{seance.id}/points/{item.id}/voter",
                           data={"vote": "favorable", "csrf_token": token},
                           follow_redirects=True)
    assert "La séance n&#39;a pas commencé" in response.get_data(as_text=True)
    response = client.post(f"/college/seances/{seance.id}/clore", data={"csrf_token": token},
                           follow_redirects=True)
    assert "La séance n&#39;a pas commencé" in response.get_data(as_text=True)
    db.expire_all()
    assert _item(seance).votes == [] and seance.status == "ouverte"
    seance.date = utcnow() - timedelta(minutes=1)
    db.commit()
    html = client.get(f"/college/seances/{seance.id}").get_data(as_text=True)
    assert "La séance commence le" not in html
    assert "Voter" in html and "Enregistrer la décision" in html and "Clore la séance" in html


def test_a_conflict_needs_a_reason_and_a_confirmation(client, ctx) -> None:
    president, member, third = (UserFactory(roles=["college"], name=n)
                                for n in ("Paul Président", "Marc Membre", "Tina Tierce"))
    seance = seat([president, member, third],
                  CandidatureFactory(at="college", status_at_step="inscrite"))
    item = _item(seance)
    url = f"/college/seances/{seance.id}/points/{item.id}/conflit"
    login_as(client, member)
    page = client.get(f"/college/seances/{seance.id}").get_data(as_text=True)
    assert f'href="{url}"' in page  # a link to the second step, not a one-click form
    form = client.get(url)
    assert form.status_code == 200 and "Raison du conflit d&#39;intérêts" in form.text
    token = csrf_token(client, url)
    for data, message in (({"confirmation": "y"}, "Indiquez la raison du conflit d&#39;intérêts."),
                          ({"raison": "Ancien salarié"}, "Cochez la case pour confirmer.")):
        response = client.post(url, data={**data, "csrf_token": token})
        assert response.status_code == 422 and message in response.text
        assert 'fr-messages-group' in response.text  # next to the field
    assert db.scalar(select(Conflict)) is None
    response = client.post(url, data={"raison": "Ancien salarié de l'éditeur",
                                       "confirmation": "y", "csrf_token": token})
    assert response.status_code == 302
    conflict = db.scalar(select(Conflict))
    assert (conflict.user_id, conflict.reason) == (member.id, "Ancien salarié de l'éditeur")
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "seance.conflit"))
    assert event.after == {"raison": "Ancien salarié de l'éditeur"}
    assert client.get(url).status_code == 403  # declared once
    # the président reads the reason; another member reads who, not why
    login_as(client, president)
    page = client.get(f"/college/seances/{seance.id}").get_data(as_text=True)
    assert "Conflit d'intérêts : Marc Membre — raison : Ancien salarié de l&#39;éditeur" in page
    login_as(client, third)
    page = client.get(f"/college/seances/{seance.id}").get_data(as_text=True)
    assert "Conflit d'intérêts : Marc Membre" in page and "Ancien salarié" not in page
    # who does not sit in the séance cannot open the page
    login_as(client, UserFactory(roles=["college"]))
    assert client.get(url).status_code == 403
