"""One way to write in a thread (`messages.ecrire`) for ANS, the vendor and the system;
product creation in the workflow; an unknown step is a domain refusal, not a KeyError."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backoffice.db import db
from backoffice.domain import UnknownStep
from backoffice.models import AuditEvent, Message, OutboxMail, Product
from backoffice.workflow import messages, produits
from backoffice.workflow.base import SYSTEME, Industriel, NotAllowed, TransitionError
from tests.factories import CandidatureFactory, OrganisationFactory, TeamFactory, UserFactory


@pytest.fixture
def dossier(ctx):
    candidature = CandidatureFactory(demarche_code="dmn_nom_de_marque", at="recevabilite",
                                     status_at_step="soumise")
    candidature.contact_email, candidature.email_opt_in = "contact@editeur.example.fr", True
    db.flush()
    return candidature


def _verif():
    return UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")])


def _mails(message: Message) -> int:
    return len(db.scalars(select(OutboxMail).where(OutboxMail.message_id == message.id)).all())


def _audited(message: Message) -> list[str]:
    return db.scalars(select(AuditEvent.action).where(
        AuditEvent.target_type == "message", AuditEvent.target_id == str(message.id))).all()


def test_ans_vendor_and_system_write_through_ecrire(dossier) -> None:
    verif = _verif()
    ans = messages.ecrire(dossier, actor=verif, body="  Merci de préciser.  ",
                          subject="Message de l'ANS", reponse_attendue=True)
    assert (ans.author_kind, ans.kind, ans.author_id, ans.body, ans.reponse_attendue) == \
        ("ans", "message", verif.id, "Merci de préciser.", True)
    assert _mails(ans) == 1 and _audited(ans) == ["messagerie.message_ans"]

    note = messages.ecrire(dossier, actor=verif, body="À vérifier", note_interne=True,
                           reponse_attendue=True)
    assert (note.kind, note.reponse_attendue) == ("note_interne", False)
    assert _mails(note) == 0 and _audited(note) == ["messagerie.note_interne"]

    vendor = messages.ecrire(dossier, actor=Industriel(dossier.organisation), body="Voici.")
    assert (vendor.author_kind, vendor.kind) == ("industriel", "message")
    assert _mails(vendor) == 0 and _audited(vendor) == ["messagerie.message_industriel"]

    system = messages.post_system_message(dossier, "form.prise", step="Recevabilité")
    assert (system.author_kind, system.kind, system.event) == \
        ("systeme", "automatique", "form.prise")
    assert "Recevabilité" in system.body and _mails(system) == 1 and _audited(system) == []
    internal = messages.ecrire(dossier, actor=SYSTEME, body="Incident", event="emission.echec")
    assert internal.author_kind == "systeme" and _mails(internal) == 0  # not e-mailed


def test_ecrire_refuses_strangers_empty_text_and_vendor_notes(dossier) -> None:
    stranger = Industriel(OrganisationFactory())
    segur = UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="segur")])
    count = len(db.scalars(select(Message)).all())
    with pytest.raises(NotAllowed):
        messages.ecrire(dossier, actor=stranger, body="Bonjour")
    with pytest.raises(NotAllowed):
        messages.ecrire(dossier, actor=segur, body="Bonjour")
    with pytest.raises(NotAllowed):
        messages.ecrire(dossier, actor=Industriel(dossier.organisation), body="x",
                        note_interne=True)
    with pytest.raises(TransitionError) as refused:
        messages.ecrire(dossier, actor=_verif(), body="   ")
    assert refused.value.message == "Le message est vide."
    assert len(db.scalars(select(Message)).all()) == count


def test_products_are_created_and_numbered_by_the_workflow(ctx) -> None:
    organisation = OrganisationFactory()
    values = {"name": "Careoptim", "version": "v1", "type": "socle", "nil": None,
              "responsable": "Jeanne Martin", "description": "", "certifications": [],
              "qualification": {}}
    first = produits.creer(actor=Industriel(organisation), values=values)
    second = produits.creer(actor=Industriel(organisation), values=values)
    assert second.number == first.number + 1 and first.organisation_id == organisation.id
    assert "produit.creer" in db.scalars(select(AuditEvent.action)).all()
    with pytest.raises(NotAllowed):
        produits.creer(actor=_verif(), values=values)
    with pytest.raises(NotAllowed):
        produits.evaluer(first, "autoeval", actor=Industriel(OrganisationFactory()), total=3,
                         answered=1, score=1, level=None, criteria={})
    assert db.get(Product, first.id) is not None


def test_an_unknown_step_is_a_domain_refusal(dossier) -> None:
    with pytest.raises(UnknownStep) as refused:
        dossier.step("preuves_pour_avis")
    assert isinstance(refused.value, TransitionError) and refused.value.code == "unknown_step"
    assert "ne comporte pas" in refused.value.message
