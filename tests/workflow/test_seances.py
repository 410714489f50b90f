"""Séances: quorum, conflicts of interest, the président's decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backoffice.db import db, simulated_clock
from backoffice.models import AuditEvent, Seance
from backoffice.workflow import seances
from backoffice.workflow.base import NotAllowed, TransitionError
from tests.factories import UserFactory


@pytest.fixture
def board(ctx):
    secretary = UserFactory(roles=["college"], name="Sophie Secrétaire")
    secretary.secretaire = True
    members = [secretary] + [UserFactory(roles=["college"], name=f"Membre {i}") for i in (1, 2)]
    seance = seances.creer(actor=secretary, date=datetime(2026, 12, 3, 9, tzinfo=UTC),
                           label="Séance de décembre", members=members, president=secretary,
                           quorum=2)
    return seance, members


@pytest.fixture
def item(board, driver, product):
    seance, members = board
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.drive(candidature, "college")
    return seances.inscrire(seance, candidature, actor=members[0])


def test_only_secretaries_and_admins_prepare(ctx, board) -> None:
    seance, members = board
    with pytest.raises(NotAllowed):
        seances.creer(actor=members[1], date=seance.date, label="x", members=members,
                      president=members[1])
    admin = UserFactory(roles=["admin"])
    assert seances.creer(actor=admin, date=seance.date, label="y", members=members,
                         president=members[2]).quorum == 2  # default: majority


def test_inscription_moves_the_dossier(item) -> None:
    assert item.candidature.step("college").status == "inscrite"


def test_decision_needs_the_quorum_and_the_president(item, board) -> None:
    seance, (president, m1, m2) = board
    seances.voter(item, actor=president, vote="favorable")
    with pytest.raises(TransitionError, match="Quorum non atteint"):
        seances.decider(item, actor=president, decision="favorable")
    seances.voter(item, actor=m1, vote="abstention", comment="Pas d'avis")
    with pytest.raises(NotAllowed):
        seances.decider(item, actor=m1, decision="favorable")
    seances.decider(item, actor=president, decision="favorable")
    assert item.candidature.step("college").status == "favorable"
    assert item.candidature.current_step == "certificat"
    with pytest.raises(TransitionError, match="déjà décidé"):
        seances.voter(item, actor=m2, vote="defavorable")


def test_a_conflicted_member_cannot_vote_nor_count(item, board) -> None:
    seance, (president, m1, m2) = board
    seances.voter(item, actor=m1, vote="favorable")
    with pytest.raises(TransitionError, match="raison du conflit"):
        seances.declarer_conflit(item, actor=m1, reason="  ")
    assert any(v.user_id == m1.id for v in item.votes) and not item.conflicts
    seances.declarer_conflit(item, actor=m1, reason="Ancien salarié de l'éditeur")
    assert not any(v.user_id == m1.id for v in item.votes)  # the earlier vote is withdrawn
    assert [c.reason for c in item.conflicts] == ["Ancien salarié de l'éditeur"]
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "seance.conflit"))
    assert event.actor_id == m1.id and event.after == {"raison": "Ancien salarié de l'éditeur"}
    with pytest.raises(TransitionError, match="déjà déclaré"):
        seances.declarer_conflit(item, actor=m1, reason="Encore")
    with pytest.raises(TransitionError, match="conflit d'intérêts"):
        seances.voter(item, actor=m1, vote="favorable")
    seances.voter(item, actor=president, vote="favorable")
    assert not seances.quorum_reached(item)
    seances.voter(item, actor=m2, vote="defavorable")
    assert seances.quorum_reached(item)


def test_outsiders_cannot_vote(item) -> None:
    with pytest.raises(NotAllowed):
        seances.voter(item, actor=UserFactory(roles=["college"]), vote="favorable")


def test_defavorable_needs_a_motive_and_ajournement_reopens_sections(item, board) -> None:
    seance, (president, m1, _) = board
    seances.voter(item, actor=president, vote="defavorable")
    seances.voter(item, actor=m1, vote="defavorable")
    with pytest.raises(TransitionError, match="motif"):
        seances.decider(item, actor=president, decision="defavorable", motive="")
    seances.decider(item, actor=president, decision="ajournee", motive="Preuves INS à revoir",
                    sections=["INS"])
    candidature = item.candidature
    assert candidature.step("college").status == "a_programmer"
    from backoffice.models import SectionReview

    ins = db.scalar(select(SectionReview).where(SectionReview.candidature_id == candidature.id,
                                                SectionReview.code == "INS"))
    assert ins.status == "modifications_demandees"


def test_closing_needs_every_decision_and_writes_the_minutes(app, item, board) -> None:
    seance, (president, m1, _) = board
    with pytest.raises(TransitionError, match="sans décision"):
        seances.clore(seance, actor=president)
    seances.voter(item, actor=president, vote="favorable")
    seances.voter(item, actor=m1, vote="favorable", comment="Dossier solide")
    seances.decider(item, actor=president, decision="favorable")
    seances.clore(seance, actor=president)
    db.commit()  # the certificate and the minutes are made after the commit
    db.expire_all()
    seance = db.get(Seance, seance.id)
    assert seance.status == "close" and seance.pv_storage_key
    from backoffice.uploads import storage

    with storage().open(seance.pv_storage_key) as handle:
        minutes = handle.read()
    assert minutes.startswith(b"%PDF") and b"Dossier solide" in minutes


def test_members_read_the_whole_dossier(app, client, item, board) -> None:
    from tests.helpers import login

    db.commit()
    seance, (president, _, _) = board
    login(client, president)
    html = client.get(f"/college/dossiers/{item.candidature.reference}").get_data(as_text=True)
    for part in ("Synthèse", "Section INS", "Tour 1 : Conforme", "Formulaires",
                 "Pièces justificatives", "Messagerie", "Historique"):
        assert part in html, part
    from backoffice.demo_files import one_page_pdf, store_bytes

    fichier = store_bytes(item.candidature, "annexe.pdf", one_page_pdf("Annexe"))
    db.commit()
    download = client.get(f"/college/fichiers/{fichier.id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert download.headers["Content-Disposition"].startswith("attachment")


def _succeeds(call) -> bool:
    savepoint = db().begin_nested()
    try:
        call()
        db.flush()
        return True
    except TransitionError:
        return False
    finally:
        savepoint.rollback()


def test_the_page_offers_a_vote_or_a_decision_exactly_when_it_would_be_taken(item, board) -> None:
    """The séance's predicates (its page's buttons) agree with the operations, for each
    person and state: not started, open, one member conflicted, decided, closed."""
    seance, (president, m1, m2) = board
    outsider, admin = UserFactory(roles=["college"]), UserFactory(roles=["admin"])
    people = (president, m1, m2, outsider, admin)

    def check() -> None:
        for person in people:
            assert seances.can_voter(person, item) is _succeeds(
                lambda p=person: seances.voter(item, actor=p, vote="favorable")), person.name
        # with the quorum reached, the decision's predicate is the whole rule
        for voter in (m1, m2):
            if seances.can_voter(voter, item):
                seances.voter(item, actor=voter, vote="favorable")
        for person in people:
            if seances.quorum_reached(item) or not seances.can_decider(person, item):
                assert seances.can_decider(person, item) is _succeeds(
                    lambda p=person: seances.decider(item, actor=p, decision="favorable")), \
                    person.name

    with simulated_clock(seance.date - timedelta(minutes=1)):  # not started yet
        check()
        assert not any(seances.can_clore(p, seance) for p in people)
        assert not _succeeds(lambda: seances.clore(seance, actor=president))
    check()
    seances.declarer_conflit(item, actor=m1, reason="Ancien salarié")
    check()
    seances.voter(item, actor=m2, vote="favorable")
    seances.voter(item, actor=president, vote="favorable")
    seances.decider(item, actor=president, decision="favorable")
    check()
    assert seances.can_clore(president, seance) and not seances.can_clore(m1, seance)
    seances.clore(seance, actor=president)
    check()
    assert not seances.can_clore(president, seance) and not seances.can_clore(admin, seance)


START = datetime(2026, 12, 3, 9, tzinfo=UTC)  # the board's séance


@pytest.mark.parametrize("offset, allowed", [(timedelta(minutes=-5), False),
                                             (timedelta(seconds=-1), False),
                                             (timedelta(0), True),
                                             (timedelta(minutes=5), True)])
def test_nothing_is_voted_decided_or_closed_before_the_start(item, board, offset,
                                                              allowed) -> None:
    """Both sides of the scheduled start, on the workflow's clock: before it, votes,
    decisions and closing are refused (predicates false, operations refused, nothing
    written); a conflict of interest may be declared at any time."""
    seance, (president, m1, _) = board
    assert seance.date == START
    with simulated_clock(START + offset):
        assert seances.started(seance) is allowed
        assert seances.can_voter(m1, item) is allowed
        assert seances.can_declarer_conflit(m1, item)
        if not allowed:
            votes = db.scalar(select(AuditEvent.id).where(AuditEvent.action == "seance.voter"))
            with pytest.raises(TransitionError, match="La séance n'a pas commencé : elle est "
                                                      "prévue le 3 décembre 2026 10:00"):
                seances.voter(item, actor=m1, vote="favorable")
            assert item.votes == [] and votes is None
        else:
            seances.voter(item, actor=m1, vote="favorable")
    with simulated_clock(START + timedelta(minutes=1)):
        seances.voter(item, actor=president, vote="favorable")
        if not allowed:
            seances.voter(item, actor=m1, vote="favorable")
    with simulated_clock(START + offset):
        assert seances.can_decider(president, item) is allowed
        if not allowed:
            with pytest.raises(TransitionError, match="pas commencé"):
                seances.decider(item, actor=president, decision="favorable")
            assert item.decision is None
            assert item.candidature.step("college").status == "inscrite"
    with simulated_clock(START + max(offset, timedelta(0))):
        seances.decider(item, actor=president, decision="favorable")
    with simulated_clock(START + offset):
        assert seances.can_clore(president, seance) is allowed
        if not allowed:
            with pytest.raises(TransitionError, match="pas commencé"):
                seances.clore(seance, actor=president)
            assert seance.status == "ouverte" and seance.closed_at is None
        else:
            seances.clore(seance, actor=president)
            assert seance.closed_at >= seance.date


def test_a_conflict_may_be_declared_before_the_start(item, board) -> None:
    seance, (_, m1, _) = board
    with simulated_clock(START - timedelta(days=1)):
        seances.declarer_conflit(item, actor=m1, reason="Conseil de l'éditeur en 2025")
    assert [c.user_id for c in item.conflicts] == [m1.id]
