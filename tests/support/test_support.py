"""The support desk: find a file by reference and name, delete it with a motive."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backoffice.db import db
from backoffice.demo_files import preuves_zip
from backoffice.models import AuditEvent, Candidature, Fichier, Message
from backoffice.uploads import storage
from backoffice.workflow import forms, preuves
from tests.factories import UserFactory
from tests.helpers import PostEndpointChecks, csrf_token, login, logout
from tests.reviewer.conftest import desk  # noqa: F401 - the workspace fixture


@pytest.fixture
def agent(desk):  # noqa: F811
    logout(desk.client)
    user = UserFactory(roles=["support"], name="Samuel Support")
    login(desk.client, user)
    return user


def _lg_with_zip(desk):  # noqa: F811
    candidature = desk.candidature("dmn_ligne_generique")
    forms.prendre(candidature, "recevabilite", actor=desk.me)
    forms.valider(candidature, "recevabilite", actor=desk.me)
    db.commit()
    response = desk.api.upload(f"/candidatures/{candidature.reference}/preuves-pour-avis",
                               preuves_zip(["INS 1.1"]), "preuves_INS.zip")
    assert response.status_code == 201
    return candidature


def _delete(desk, fichier, **data):  # noqa: F811
    return desk.client.post(f"/support/fichiers/{fichier.id}/supprimer", data={
        **data, "csrf_token": csrf_token(desk.client, "/support/")}, follow_redirects=True)


def test_find_and_delete_the_ligne_generique_zip(desk, agent) -> None:  # noqa: F811
    candidature = _lg_with_zip(desk)
    page = desk.client.get("/support/", query_string={"reference": candidature.reference.lower(),
                                                      "nom": "INS.z"}).get_data(as_text=True)
    assert 'data-file="preuves_INS.zip"' in page and "Archive de preuves pour avis" in page
    fichier = db.scalar(select(Fichier).where(Fichier.original_name == "preuves_INS.zip"))
    path = storage().path(fichier.storage_key)
    assert path.exists()
    refused = _delete(desk, fichier, motif="", demande="")
    assert "motif de la suppression est obligatoire" in refused.get_data(as_text=True)
    done = _delete(desk, fichier, motif="Archive déposée par erreur", demande="SUP-2026-0042")
    assert "est supprimé" in done.get_data(as_text=True)
    db.expire_all()
    fichier = db.get(Fichier, fichier.id)
    assert fichier.deleted_at and fichier.deletion_request == "SUP-2026-0042"
    assert not path.exists()  # the bytes left the store
    candidature = db.get(Candidature, candidature.id)
    assert candidature.step("preuves_pour_avis").status == "en_attente_depot"
    message = db.scalar(select(Message).where(Message.event == "support.fichier_supprime"))
    assert "preuves_INS.zip" in message.body and "SUP-2026-0042" in message.body
    assert "support.supprimer_fichier" in db.scalars(select(AuditEvent.action)).all()
    again = _delete(desk, fichier, motif="x", demande="y")
    assert "déjà été supprimé" in again.get_data(as_text=True)


def test_a_validated_round_cannot_lose_its_files(desk, agent) -> None:  # noqa: F811
    candidature = desk.candidature(until="preuves", submit=False)
    driver = desk.driver()
    section = driver.sections(candidature)[0]
    driver.file_section(candidature, section)
    driver.review_section(candidature, section)
    db.commit()
    preuve = preuves.active_preuves(section.exigences[0])[0]
    response = _delete(desk, preuve.fichier, motif="Erreur", demande="SUP-1")
    assert "un vérificateur doit d&#39;abord rouvrir" in response.get_data(as_text=True) or \
        "un vérificateur doit d'abord rouvrir" in response.get_data(as_text=True)
    assert db.get(Fichier, preuve.fichier_id).deleted_at is None


def test_a_deleted_preuve_leaves_the_review(desk, agent) -> None:  # noqa: F811
    candidature = desk.candidature(until="preuves", submit=False)
    driver = desk.driver()
    section = driver.sections(candidature)[0]
    driver.file_section(candidature, section)
    db.commit()
    from backoffice.demo_files import one_page_pdf, store_bytes

    preuve = preuves.active_preuves(section.exigences[0])[0]
    real = store_bytes(candidature, "capture_erronee.pdf", one_page_pdf("Erreur"))
    preuve.fichier_id = real.id
    db.commit()
    _delete(desk, real, motif="Mauvais fichier", demande="SUP-7")
    logout(desk.client)
    login(desk.client, desk.me)
    page = desk.client.get(f"/instruction/candidatures/{candidature.reference}/sections/"
                           f"{section.code}").get_data(as_text=True)
    assert "capture_erronee.pdf" not in page


def test_support_takes_no_decisions(desk, agent) -> None:  # noqa: F811
    candidature = desk.candidature()
    response = desk.client.post(
        f"/instruction/candidatures/{candidature.reference}/prendre",
        data={"csrf_token": csrf_token(desk.client, "/support/")})
    assert response.status_code == 403


class TestDeleteEndpoint(PostEndpointChecks):
    path, allowed_roles, form = "/support/fichiers/1/supprimer", ("support",), {"motif": "x"}


def _text(response) -> str:
    import html

    return html.unescape(response.get_data(as_text=True))


def test_support_reads_the_history_of_a_candidature_and_of_a_file(desk, agent) -> None:  # noqa: F811
    candidature = _lg_with_zip(desk)
    fichier = db.scalar(select(Fichier).where(Fichier.original_name == "preuves_INS.zip"))
    logout(desk.client)
    login(desk.client, desk.me)  # a vérificateur opens the zip: an audited read
    assert desk.client.get(f"/instruction/fichiers/{fichier.id}").status_code == 200
    logout(desk.client)
    login(desk.client, agent)
    _delete(desk, fichier, motif="Archive déposée par erreur", demande="SUP-2026-0042")

    home = _text(desk.client.get("/support/", query_string={"reference": candidature.reference}))
    assert f"/support/candidatures/{candidature.reference}/historique" in home
    assert f"/support/fichiers/{fichier.id}/historique" in home

    page = _text(desk.client.get(f"/support/fichiers/{fichier.id}/historique"))
    assert "Historique du fichier « preuves_INS.zip »" in page
    assert "L'industriel (Careoptim)" in page
    assert "a déposé l'archive des preuves pour avis « preuves_INS.zip »" in page
    assert "Victor Vérificateur" in page
    assert "a ouvert le fichier « preuves_INS.zip » — téléchargement" in page
    assert "Samuel Support" in page
    assert ("a supprimé le fichier « preuves_INS.zip » (archive des preuves pour avis) — "
            "à la demande « SUP-2026-0042 », motif : « Archive déposée par erreur »") in page
    assert desk.me.email not in page and agent.email not in page
    assert "support.supprimer_fichier" not in page and "a déposé une preuve" not in page

    whole = _text(desk.client.get(f"/support/candidatures/{candidature.reference}/historique"))
    assert "a validé l'étape « Recevabilité »" in whole
    assert "a supprimé le fichier « preuves_INS.zip »" in whole
    assert "a ouvert le fichier « preuves_INS.zip »" in whole
    assert desk.me.email not in whole and "pour_avis." not in whole


def test_the_audit_views_are_the_support_desks(desk, agent) -> None:  # noqa: F811
    candidature = _lg_with_zip(desk)
    fichier = db.scalar(select(Fichier).where(Fichier.original_name == "preuves_INS.zip"))
    urls = (f"/support/candidatures/{candidature.reference}/historique",
            f"/support/fichiers/{fichier.id}/historique")
    for url in urls:
        assert desk.client.get(url).status_code == 200
    assert desk.client.get("/support/candidatures/INCONNUE/historique").status_code == 404
    assert desk.client.get("/support/fichiers/999999/historique").status_code == 404
    for roles in (["verificateur"], ["college"], ["admin"]):
        logout(desk.client)
        login(desk.client, UserFactory(roles=roles))
        for url in urls:
            assert desk.client.get(url).status_code == 403, (roles, url)
    logout(desk.client)
    for url in urls:
        response = desk.client.get(url)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"]
    # the vendor has no session on the back-office: its API token opens nothing here
    assert desk.client.get(urls[0], headers={"Authorization": f"Bearer {desk.api.token}"}) \
        .status_code == 302


def test_the_checklist_shows_a_deleted_piece_with_its_motive(desk, agent) -> None:  # noqa: F811
    candidature = desk.candidature("dmn_ligne_generique", submit=False)
    response = desk.api.upload(f"/candidatures/{candidature.reference}/pieces",
                               name="export-patients.pdf", type="documentation_fonctionnelle",
                               step="recevabilite")
    assert response.status_code == 201, response.json
    db.expire_all()
    candidature = db.get(Candidature, candidature.id)
    desk.driver().fill(candidature, "recevabilite")
    desk.driver().submit(candidature, "recevabilite")
    db.commit()
    fichier = db.scalar(select(Fichier).where(Fichier.original_name == "export-patients.pdf"))
    _delete(desk, fichier, motif="Fichier d'un autre produit", demande="SUP-2026-0077")
    logout(desk.client)
    login(desk.client, desk.me)
    page = desk.client.get(f"/instruction/candidatures/{candidature.reference}",
                           query_string={"onglet": "pieces"}).get_data(as_text=True)
    row = next(r for r in page.split("<tr")[1:] if "export-patients.pdf" in r)
    assert "Supprimée par le support" in row and "Archivée" not in row
    assert "(SUP-2026-0077) — motif : Fichier d&#39;un autre produit" in row
    assert "Indisponible" in row and f"/instruction/fichiers/{fichier.id}" not in row
