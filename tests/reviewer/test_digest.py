"""The daily digest (issue 18, item 1): opt-in in « Mon compte », sent by the periodic
job `resume-activite` through the outbox, in French, only on days with activity, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backoffice.db import db, utcnow
from backoffice.models import Candidature, NotificationPreference, OutboxMail
from backoffice.workflow import forms
from backoffice.workflow.messages import ecrire
from jobs import periodiques
from tests.factories import UserFactory
from tests.helpers import csrf_token, login_as


def _reload(candidature) -> Candidature:
    db.expire_all()
    return db.get(Candidature, candidature.id)


def digests() -> list[OutboxMail]:
    return db.scalars(select(OutboxMail).where(OutboxMail.subject.like(
        "[Convergence] Activité de vos dossiers%")).order_by(OutboxMail.id)).all()


def opt_in(desk, user, value: bool = True) -> str:
    login_as(desk.client, user)
    data = {"csrf_token": csrf_token(desk.client, "/compte")}
    if value:
        data["resume_quotidien"] = "1"
    response = desk.client.post("/instruction/compte/notifications", data=data,
                                follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_account_page_offers_the_digest_to_verificateurs_only(desk) -> None:
    html = desk.client.get("/compte").get_data(as_text=True)
    assert "Recevoir chaque matin par e-mail le résumé" in html
    assert "checked" not in html.split('id="resume_quotidien"')[1].split(">")[0]
    page = opt_in(desk, desk.me)
    assert "Vous recevrez chaque matin le résumé" in page
    assert db.get(NotificationPreference, desk.me.id).daily_digest is True
    checkbox = page.split('id="resume_quotidien"')[1].split(">")[0]
    assert "checked" in checkbox
    page = opt_in(desk, desk.me, False)
    db.expire_all()
    assert db.get(NotificationPreference, desk.me.id).daily_digest is False
    college = UserFactory(roles=["college"])
    login_as(desk.client, college)
    assert "résumé" not in desk.client.get("/compte").get_data(as_text=True)
    response = desk.client.post("/instruction/compte/notifications",
                                data={"csrf_token": csrf_token(desk.client, "/compte"),
                                      "resume_quotidien": "1"})
    assert response.status_code == 403
    assert db.get(NotificationPreference, college.id) is None


def test_only_those_who_asked_get_it_with_what_others_did(desk) -> None:
    from jobs.activite import envoyer_resumes

    opt_in(desk, desk.me)  # the colleague did not ask
    candidature = desk.candidature()
    desk.driver().take(_reload(candidature), "recevabilite")
    forms.demander_complements(_reload(candidature), "recevabilite", actor=desk.me,
                               message="Merci de compléter.")
    db.commit()
    ecrire(_reload(candidature), actor=desk.industriel, body="Voici les compléments.")
    desk.driver().submit(_reload(candidature), "recevabilite")
    segur = desk.candidature("sons_sas", "depot")
    db.commit()

    assert envoyer_resumes() == 1
    [mail] = digests()
    assert mail.recipient == desk.me.email
    assert mail.subject.startswith("[Convergence] Activité de vos dossiers : ")
    body = mail.body
    assert body.startswith("Bonjour Victor Vérificateur,")
    assert candidature.reference in body and "a écrit aux vérificateurs" in body
    assert "a soumis l'étape « Recevabilité »" in body
    assert "a demandé des compléments" not in body  # my own act
    assert segur.reference not in body  # another parcours
    assert "/instruction/activite" in body and "/compte#notifications" in body
    assert "recevabilite.soumettre" not in body  # sentences, not codes

    # run again: nothing new, nothing sent (the mark moved with the mail)
    assert envoyer_resumes() == 0
    assert len(digests()) == 1
    # the next day, a new message: only that
    ecrire(_reload(candidature), actor=desk.industriel, body="Une précision.")
    db.commit()
    assert envoyer_resumes() == 1
    latest = digests()[-1]
    assert latest.body.count("a écrit aux vérificateurs") == 1
    assert "a soumis" not in latest.body


def test_no_activity_no_mail_and_an_opted_out_user_gets_nothing(desk) -> None:
    from jobs.activite import envoyer_resumes

    opt_in(desk, desk.me)
    opt_in(desk, desk.colleague)
    opt_in(desk, desk.colleague, False)
    assert envoyer_resumes() == 0 and digests() == []
    preference = db.get(NotificationPreference, desk.me.id)
    assert preference.digest_sent_at is not None
    assert abs(preference.digest_sent_at - utcnow()) < timedelta(minutes=1)


def test_is_a_daily_periodic_job() -> None:
    job = periodiques.BY_NAME["resume-activite"]
    assert job.job == "activite.envoyer_resumes" and job.every == 86400
    assert periodiques.periods()["resume-activite"] == 86400
    from backoffice.tasks import resolve

    assert resolve(job.job).__name__ == "envoyer_resumes"
