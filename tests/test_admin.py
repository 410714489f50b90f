from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from backoffice.auth.passwords import verify_password
from backoffice.models import AuditEvent, CampaignWindow, Demarche, User
from tests.factories import TeamFactory, UserFactory
from tests.helpers import csrf_token, login, login_enrolling


def _admin(client, ctx):
    admin = UserFactory(roles=["admin"])
    login(client, admin)
    return admin


def test_admin_creates_an_account_with_roles_teams_and_password(client, ctx) -> None:
    _admin(client, ctx)
    team = TeamFactory(name="Équipe Ségur", parcours="segur")
    response = client.post("/admin/user/new/", data={
        "email": "Nouvelle.Agente@ANS.test.fr",
        "name": "Nouvelle Agente",
        "active": "y",
        "teams": [str(team.id)],
        "roles": ["verificateur", "support"],
        "new_password": "un-mot-de-passe-solide",
        "csrf_token": csrf_token(client, "/admin/user/new/"),
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    user = ctx.scalar(select(User).where(User.email == "nouvelle.agente@ans.test.fr"))
    assert user is not None
    assert user.roles == {"verificateur", "support"}
    assert [t.name for t in user.teams] == ["Équipe Ségur"]
    assert verify_password(user.password_hash, "un-mot-de-passe-solide")
    actions = ctx.scalars(select(AuditEvent.action)).all()
    assert "admin.user.cree" in actions
    # and the new account can log in
    client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/admin/")})
    login_enrolling(client, user, "un-mot-de-passe-solide")  # first login: enrolment
    assert client.get("/", follow_redirects=True).request.path == "/instruction/"


def test_new_account_needs_a_password(client, ctx) -> None:
    _admin(client, ctx)
    response = client.post("/admin/user/new/", data={
        "email": "sans.mdp@ans.test.fr", "name": "Sans", "roles": ["support"],
        "csrf_token": csrf_token(client, "/admin/user/new/"),
    }, follow_redirects=True)
    assert "Un mot de passe est obligatoire" in response.get_data(as_text=True)
    assert ctx.scalar(select(User).where(User.email == "sans.mdp@ans.test.fr")) is None


def test_admin_resets_a_password_and_edits_roles_without_seeing_the_hash(client, ctx) -> None:
    _admin(client, ctx)
    user = UserFactory(roles=["verificateur"])
    old_hash = user.password_hash
    edit = client.get(f"/admin/user/edit/?id={user.id}").get_data(as_text=True)
    assert old_hash not in edit and "password_hash" not in edit
    for page in ("/admin/user/", f"/admin/user/details/?id={user.id}"):
        html = client.get(page).get_data(as_text=True)
        assert old_hash not in html and "$argon2" not in html, page
    response = client.post(f"/admin/user/edit/?id={user.id}", data={
        "email": user.email, "name": user.name, "active": "y",
        "roles": ["college"], "new_password": "nouveau-mot-de-passe-long",
        "csrf_token": csrf_token(client, f"/admin/user/edit/?id={user.id}"),
    })
    assert response.status_code == 302
    ctx.expire_all()
    user = ctx.get(User, user.id)
    assert user.roles == {"college"}
    assert user.password_hash != old_hash
    assert verify_password(user.password_hash, "nouveau-mot-de-passe-long")


def test_edit_without_new_password_keeps_the_old_one(client, ctx) -> None:
    _admin(client, ctx)
    user = UserFactory(roles=["support"])
    old_hash = user.password_hash
    client.post(f"/admin/user/edit/?id={user.id}", data={
        "email": user.email, "name": "Nom changé", "roles": ["support"],
        "csrf_token": csrf_token(client, f"/admin/user/edit/?id={user.id}"),
    })
    ctx.expire_all()
    user = ctx.get(User, user.id)
    assert user.name == "Nom changé" and user.password_hash == old_hash
    assert user.active is False  # the unchecked box deactivates


def test_admin_forms_need_the_csrf_token(client, ctx) -> None:
    _admin(client, ctx)
    response = client.post("/admin/user/new/", data={
        "email": "x@ans.test.fr", "name": "X", "roles": ["support"], "new_password": "x" * 20,
    })
    assert response.status_code == 400
    assert ctx.scalar(select(User).where(User.email == "x@ans.test.fr")) is None


def test_campaign_window_is_typed_in_paris_time_and_stored_in_utc(client, ctx) -> None:
    _admin(client, ctx)
    response = client.post("/admin/campaignwindow/new/", data={
        "demarche": "sons_sas",
        "label": "Campagne hiver",
        "opens_at": "2026-11-02T09:00",
        "closes_at": "2026-12-14T14:00",
        "csrf_token": csrf_token(client, "/admin/campaignwindow/new/"),
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    window = ctx.scalar(select(CampaignWindow).where(CampaignWindow.label == "Campagne hiver"))
    assert window.closes_at == datetime(2026, 12, 14, 13, 0, tzinfo=UTC)  # CET = UTC+1
    listing = client.get("/admin/campaignwindow/").get_data(as_text=True)
    assert "14 décembre 2026 14:00" in listing


def test_campaign_window_must_close_after_it_opens(client, ctx) -> None:
    _admin(client, ctx)
    response = client.post("/admin/campaignwindow/new/", data={
        "demarche": "sons_sas", "label": "À l'envers",
        "opens_at": "2026-12-14T14:00", "closes_at": "2026-11-02T09:00",
        "csrf_token": csrf_token(client, "/admin/campaignwindow/new/"),
    }, follow_redirects=True)
    assert "La fermeture doit être postérieure" in response.get_data(as_text=True)
    assert ctx.scalar(select(CampaignWindow).where(CampaignWindow.label == "À l'envers")) is None


def test_admin_ends_the_transitional_phase_of_ligne_generique(client, ctx) -> None:
    _admin(client, ctx)
    demarche = ctx.get(Demarche, "dmn_ligne_generique")
    assert demarche.phase_transitoire is True
    assert demarche.steps == ("recevabilite", "preuves_pour_avis")
    response = client.post("/admin/demarche/edit/?id=dmn_ligne_generique", data={
        "label": demarche.label, "active": "y",
        "csrf_token": csrf_token(client, "/admin/demarche/edit/?id=dmn_ligne_generique"),
    })
    assert response.status_code == 302
    ctx.expire_all()
    demarche = ctx.get(Demarche, "dmn_ligne_generique")
    assert demarche.phase_transitoire is False
    assert demarche.steps[-1] == "certificat"


def test_admin_issues_a_token_shown_once_then_revokes_it(client, ctx) -> None:
    import re

    from backoffice.models import ApiToken
    from tests.factories import OrganisationFactory

    _admin(client, ctx)
    organisation = OrganisationFactory(name="Careoptim")
    response = client.post("/admin/apitoken/new/", data={
        "organisation": str(organisation.id), "name": "Portail",
        "csrf_token": csrf_token(client, "/admin/apitoken/new/"),
    }, follow_redirects=True)
    html = response.get_data(as_text=True)
    raw = re.search(r"Jeton créé : (cvg_[A-Za-z0-9_-]+)", html).group(1)
    token = ctx.scalar(select(ApiToken).where(ApiToken.organisation_id == organisation.id))
    assert raw not in (token.token_hash, token.prefix) and raw.startswith(token.prefix)
    listing = client.get("/admin/apitoken/").get_data(as_text=True)
    assert raw not in listing and token.prefix in listing
    api = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/candidatures", headers=api).status_code == 200
    revoke = client.post("/admin/apitoken/action/", data={
        "action": "revoquer", "rowid": [str(token.id)],
        "csrf_token": csrf_token(client, "/admin/apitoken/"),
    }, follow_redirects=True)
    assert "1 jeton(s) révoqué(s)." in revoke.get_data(as_text=True)
    assert client.get("/api/v1/candidatures", headers=api).status_code == 401
    actions = ctx.scalars(select(AuditEvent.action)).all()
    assert "admin.apitoken.cree" in actions and "admin.apitoken.revoque" in actions


def test_admin_sets_a_delay_rule(client, ctx) -> None:
    from backoffice.models import DelayRule
    from backoffice.seed import ensure_delay_rules

    _admin(client, ctx)
    ensure_delay_rules()
    rule = ctx.scalar(select(DelayRule).where(DelayRule.demarche_code == "dmn_pect",
                                              DelayRule.step == "recevabilite"))
    response = client.post(f"/admin/delayrule/edit/?id={rule.id}", data={
        "days": "15", "working_days": "y", "legal_basis": "CSS R.165-89",
        "csrf_token": csrf_token(client, f"/admin/delayrule/edit/?id={rule.id}"),
    })
    assert response.status_code == 302
    ctx.expire_all()
    rule = ctx.get(DelayRule, rule.id)
    assert (rule.days, rule.working_days) == (15, True)
    bad = client.post(f"/admin/delayrule/edit/?id={rule.id}", data={
        "days": "0", "csrf_token": csrf_token(client, f"/admin/delayrule/edit/?id={rule.id}"),
    })
    assert bad.status_code == 200 and "365" in bad.get_data(as_text=True)


def test_admin_rewords_an_automatic_message(client, ctx) -> None:
    from backoffice.models import Message
    from backoffice.workflow.messages import post_system_message
    from tests.factories import CandidatureFactory

    _admin(client, ctx)
    # every automatic message is listed (reference data, data/message_templates.json)
    listed = client.get("/admin/messagetemplate/").get_data(as_text=True)
    assert "form.complements_demandes" in listed and "candidature.ouverte" in listed
    url = "/admin/messagetemplate/edit/?id=form..complements_demandes"  # "." escaped
    assert url.removeprefix("/admin/messagetemplate") in listed.replace("&amp;", "&")
    response = client.post(url, data={
        "event": "form.complements_demandes", "subject": "Action requise : {step}",
        "body": "Bonjour,\n{body}\nCordialement, l'ANS ({inconnu})",
        "csrf_token": csrf_token(client, url),
    })
    assert response.status_code == 302
    candidature = CandidatureFactory()
    message = post_system_message(candidature, "form.complements_demandes",
                                  step="Recevabilité", body="Il manque le marquage CE.")
    assert message.subject == "Action requise : Recevabilité"
    assert message.body == "Bonjour,\nIl manque le marquage CE.\nCordialement, l'ANS ({inconnu})"
    assert isinstance(message, Message)


def test_admin_makes_a_college_member_secretaire_de_seance(client, ctx) -> None:
    """docs/college.md: an admin sets the flag; only a collège member can hold it; the
    secrétaire then prepares séances."""
    from backoffice.workflow import seances

    _admin(client, ctx)
    user = UserFactory(roles=["college"])
    assert not seances.can_prepare(user)
    edit = client.get(f"/admin/user/edit/?id={user.id}").get_data(as_text=True)
    assert "Secrétaire de séance (collège)" in edit
    form = {"email": user.email, "name": user.name, "active": "y",
            "csrf_token": csrf_token(client, f"/admin/user/edit/?id={user.id}")}
    refused = client.post(f"/admin/user/edit/?id={user.id}",
                          data={**form, "roles": ["verificateur"], "secretaire": "y"})
    assert "Seul un membre du collège peut être secrétaire de séance." in \
        refused.get_data(as_text=True)
    ctx.expire_all()
    assert ctx.get(User, user.id).secretaire is False
    response = client.post(f"/admin/user/edit/?id={user.id}",
                           data={**form, "roles": ["college"], "secretaire": "y"})
    assert response.status_code == 302
    ctx.expire_all()
    user = ctx.get(User, user.id)
    assert user.secretaire is True and seances.can_prepare(user)
    assert "Secrétaire de séance (collège)" in client.get(
        f"/admin/user/details/?id={user.id}").get_data(as_text=True)
