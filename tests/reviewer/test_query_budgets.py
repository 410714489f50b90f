"""The page budget (docs/benchmarks.md: at most 8 queries per list or dossier page) whoever
looks: the assignee, a colleague of the team, a vérificateur on a dossier nobody holds, an
admin, and a collège member on a dossier of their séance (issue 19, item 1). The benchmark
smoke measures one viewer; the lazy loads that only some viewers trigger show here."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Message
from tests.factories import CandidatureFactory, UserFactory
from tests.helpers import login_as
from tests.security.seats import seat

BUDGET = 8
VIEWERS = ("assignee", "colleague", "unassigned", "admin")
TABS = ("formulaire", "pieces", "preuves", "messagerie", "historique", "produit")


def _dossier(desk, viewer: str):
    """A recevabilité dossier with a vendor message, taken by `desk.me` unless the viewer
    is the unassigned one; the logged-in user is the viewer."""
    candidature = desk.candidature()
    if viewer != "unassigned":
        desk.driver().take(candidature, "recevabilite")
    db.add(Message(candidature_id=candidature.id, author_kind="industriel", kind="message",
                   body="Bonjour"))
    db.commit()
    team = desk.me.teams
    who = {"assignee": desk.me, "colleague": desk.colleague, "unassigned": desk.colleague,
           "admin": UserFactory(roles=["admin", "verificateur"], teams=team)}[viewer]
    login_as(desk.client, who)
    return candidature


@pytest.mark.parametrize("viewer", VIEWERS)
def test_queue_and_home_pages_keep_the_budget(desk, query_recorder, viewer) -> None:
    _dossier(desk, viewer)
    for path in ("/instruction/", "/instruction/file"):
        desk.client.get(path)  # the first request's one-off reads (cache, référentiel)
        with query_recorder:
            assert desk.client.get(path).status_code == 200
        assert query_recorder.count <= BUDGET, (viewer, path, query_recorder.queries)


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("tab", TABS)
def test_each_dossier_tab_keeps_the_budget(desk, query_recorder, viewer, tab) -> None:
    candidature = _dossier(desk, viewer)
    path = f"/instruction/candidatures/{candidature.reference}?onglet={tab}"
    desk.client.get(path)
    with query_recorder:
        assert desk.client.get(path).status_code == 200
    assert query_recorder.count <= BUDGET, (viewer, tab, query_recorder.queries)


def test_a_college_member_reads_a_dossier_of_their_seance_within_the_budget(
        client, ctx, query_recorder) -> None:
    member = UserFactory(roles=["college"])
    candidature = CandidatureFactory(at="college", status_at_step="inscrite")
    seat([member], candidature)
    db.commit()
    login_as(client, member)
    path = f"/college/dossiers/{candidature.reference}"
    client.get(path)
    with query_recorder:
        assert client.get(path).status_code == 200
    assert query_recorder.count <= BUDGET, "\n".join(q[:150] for q in query_recorder.queries)


@pytest.mark.parametrize("viewer", ("member", "president", "admin"))
def test_the_college_home_and_seance_pages_keep_the_budget(client, ctx, query_recorder,
                                                           viewer) -> None:
    """Home (next séances, dossiers à programmer), a séance's page and the conflict page,
    with several séances, dossiers, votes and conflicts."""
    from backoffice.models import AgendaItem, Conflict, Vote

    president, member = UserFactory(roles=["college"]), UserFactory(roles=["college"])
    president.secretaire = True
    for _ in range(3):
        CandidatureFactory(at="college", status_at_step="a_programmer")
    seances = [seat([president, member], CandidatureFactory(at="college",
                                                            status_at_step="inscrite"))
               for _ in range(3)]
    seance = seances[0]
    db.add(AgendaItem(seance_id=seance.id, candidature_id=CandidatureFactory(
        at="college", status_at_step="inscrite").id))
    db.flush()
    items = db.scalars(select(AgendaItem).where(AgendaItem.seance_id == seance.id)).all()
    db.add_all([Vote(item_id=items[0].id, user_id=president.id, vote="favorable"),
                Conflict(item_id=items[1].id, user_id=president.id, reason="Conseil")])
    db.commit()
    user = {"member": member, "president": president,
            "admin": UserFactory(roles=["admin"])}[viewer]
    login_as(client, user)
    paths = ["/college/", f"/college/seances/{seance.id}"]
    if viewer == "member":
        paths.append(f"/college/seances/{seance.id}/points/{items[0].id}/conflit")
    for path in paths:
        client.get(path)
        with query_recorder:
            assert client.get(path).status_code == 200, path
        assert query_recorder.count <= BUDGET, (viewer, path, "\n".join(
            q[:200] for q in query_recorder.queries))


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("stage", ("recevabilite", "preuves_pour_avis"))
def test_a_ligne_generique_dossier_with_its_zip_keeps_the_budget(desk, query_recorder,
                                                                viewer, stage) -> None:
    """The zip step's panel (archive; once the step is open, the analysis counts) reads a
    fixed number of rows, on the recevabilité's decision page as on the open step."""
    from backoffice.demo_files import preuves_zip
    from backoffice.workflow import forms

    candidature = desk.candidature("dmn_ligne_generique")
    response = desk.api.upload(f"/candidatures/{candidature.reference}/preuves-pour-avis",
                               preuves_zip(["INS 1.1", "INS 2.1"], {"divers/a.txt": b"a"}),
                               "preuves.zip")
    assert response.status_code == 201, response.json
    db.expire_all()  # the upload's request moved the candidature's version on
    candidature = db.get(type(candidature), candidature.id)
    if stage == "preuves_pour_avis":
        forms.prendre(candidature, "recevabilite", actor=desk.me)
        forms.valider(candidature, "recevabilite", actor=desk.me)
    elif viewer != "unassigned":
        desk.driver().take(candidature, "recevabilite")
    db.commit()
    who = {"assignee": desk.me, "colleague": desk.colleague, "unassigned": desk.colleague,
           "admin": UserFactory(roles=["admin", "verificateur"], teams=desk.me.teams)}[viewer]
    login_as(desk.client, who)
    path = f"/instruction/candidatures/{candidature.reference}"
    desk.client.get(path)
    with query_recorder:
        response = desk.client.get(path)
    assert response.status_code == 200 and 'data-testid="pour-avis"' in response.text
    assert ("exigences sans fichier" in response.text) == (stage == "preuves_pour_avis")
    assert query_recorder.count <= BUDGET, "\n".join(q[:150] for q in query_recorder.queries)
