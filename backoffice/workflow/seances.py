"""Séances of the collège: the agenda (candidatures à programmer become inscrites),
conflicts of interest, votes, and the président's decision per dossier, which calls the
collège transitions. Quorum and conflicts are enforced here, and so is the séance's time:
nothing is voted, decided or closed before its scheduled start (issue 17, item 3), so that
a procès-verbal never reads a séance closed before it began. `now()` is the workflow's
clock (backoffice.db.utcnow: the real time, or a simulated one in the seed and tests)."""

from __future__ import annotations

import math
from datetime import datetime

from backoffice import audit
from backoffice.db import db
from backoffice.filters import datetime_fr
from backoffice.models import AgendaItem, Candidature, Conflict, Seance, User, Vote
from backoffice.tasks import schedule
from backoffice.workflow import college
from backoffice.workflow.base import (
    InvalidInput,
    TransitionError,
    ensure_allowed,
    is_admin,
    is_college,
    now,
    require_text,
)


def can_prepare(actor: User) -> bool:
    return is_admin(actor) or (is_college(actor) and actor.secretaire)


# --- predicates: what the séance's page offers, the checks its operations make ---------


def started(seance: Seance) -> bool:
    """The séance's scheduled start has come (Seance.date, stored in UTC)."""
    return now() >= seance.date


def _undecided(item: AgendaItem) -> bool:
    return item.seance.status == "ouverte" and not item.decision


def can_declarer_conflit(actor: User, item: AgendaItem) -> bool:
    """A member declares a conflict of interest on an undecided dossier of an open séance,
    before it starts too (the earlier, the better), once."""
    return (is_college(actor) and actor in item.seance.members and _undecided(item)
            and all(c.user_id != actor.id for c in item.conflicts))


def can_voter(actor: User, item: AgendaItem) -> bool:
    """A member votes on an undecided dossier of an open séance that has started, unless
    they declared a conflict of interest on it."""
    return can_declarer_conflit(actor, item) and started(item.seance)


def can_decider(actor: User, item: AgendaItem) -> bool:
    """The président records the decision once the séance has started (the quorum is
    checked on submission)."""
    return (is_college(actor) and actor.id == item.seance.president_id and _undecided(item)
            and started(item.seance) and all(c.user_id != actor.id for c in item.conflicts))


def can_clore(actor: User, seance: Seance) -> bool:
    return (actor.id == seance.president_id or can_prepare(actor)) and \
        seance.status == "ouverte" and started(seance)


def reads_conflict_reasons(actor: User, seance: Seance) -> bool:
    """The reasons given for conflicts of interest are read by the séance's président, the
    secrétaires and the administrators (the other members see who, not why)."""
    return actor.id == seance.president_id or can_prepare(actor)


def creer(*, actor: User, date: datetime, label: str, members: list[User], president: User,
          quorum: int | None = None) -> Seance:
    ensure_allowed(can_prepare(actor), "Seul un secrétaire du collège ou un administrateur "
                                       "prépare les séances.")
    if not members or any(not is_college(m) for m in members):
        raise InvalidInput("invalid_members", "Les membres doivent être des membres du collège.")
    if president not in members:
        raise InvalidInput("invalid_president", "Le président doit être membre de la séance.")
    quorum = quorum or math.ceil(len(members) / 2)
    if not 1 <= quorum <= len(members):
        raise InvalidInput("invalid_quorum", "Le quorum doit être compris entre 1 et le nombre "
                                             "de membres.")
    seance = Seance(date=date, label=require_text(label, "Le libellé est obligatoire."),
                    president=president, quorum=quorum, members=list(members),
                    created_by_id=actor.id)
    db.add(seance)
    db.flush()
    audit.record(actor, "seance.creer", seance,
                 after={"date": date.isoformat(), "members": [m.id for m in members],
                        "president": president.id, "quorum": quorum})
    return seance


def _open(seance: Seance) -> None:
    if seance.status != "ouverte":
        raise TransitionError("seance_closed", "La séance est close.")


def _ensure_started(seance: Seance) -> None:
    if not started(seance):
        raise TransitionError(
            "seance_not_started",
            f"La séance n'a pas commencé : elle est prévue le {datetime_fr(seance.date)}. "
            "Les votes, les décisions et la clôture sont possibles à partir de cette heure.")


def inscrire(seance: Seance, candidature: Candidature, *, actor: User) -> AgendaItem:
    """Put a DMN candidature à programmer on the agenda (college: a_programmer -> inscrite)."""
    ensure_allowed(can_prepare(actor))
    _open(seance)
    college.inscrire(candidature, actor=actor)
    item = AgendaItem(seance=seance, candidature=candidature)
    db.add(item)
    db.flush()
    audit.record(actor, "seance.inscrire", item, candidature=candidature,
                 after={"seance": seance.id})
    return item


def _member(seance: Seance, actor: User) -> None:
    ensure_allowed(is_college(actor) and actor in seance.members,
                   "Seuls les membres de la séance peuvent voter.")


def declarer_conflit(item: AgendaItem, *, actor: User, reason: str | None) -> None:
    """A member withdraws from a dossier, saying why (kept in the audit trail, read by the
    président and the secrétaires); a vote given before is withdrawn."""
    _member(item.seance, actor)
    _open(item.seance)
    if item.decision:
        raise TransitionError("already_decided", "Ce dossier est déjà décidé.")
    if any(c.user_id == actor.id for c in item.conflicts):
        raise TransitionError("conflict_already_declared",
                              "Vous avez déjà déclaré un conflit d'intérêts sur ce dossier.")
    body = require_text(reason, "Indiquez la raison du conflit d'intérêts.")
    item.votes = [v for v in item.votes if v.user_id != actor.id]  # a vote given before goes
    item.conflicts.append(Conflict(user_id=actor.id, reason=body))
    db.flush()
    audit.record(actor, "seance.conflit", item, candidature=item.candidature,
                 after={"raison": body})


def voter(item: AgendaItem, *, actor: User, vote: str, comment: str | None = None) -> Vote:
    _member(item.seance, actor)
    _open(item.seance)
    _ensure_started(item.seance)
    if item.decision:
        raise TransitionError("already_decided", "Ce dossier est déjà décidé.")
    if any(c.user_id == actor.id for c in item.conflicts):
        raise TransitionError("conflict_of_interest",
                              "Vous avez déclaré un conflit d'intérêts sur ce dossier : vous ne "
                              "pouvez pas voter.", 403)
    if vote not in ("favorable", "defavorable", "abstention"):
        raise InvalidInput("invalid_vote", "Vote inconnu.")
    row = next((v for v in item.votes if v.user_id == actor.id), None)
    if row is None:
        row = Vote(user_id=actor.id, vote=vote)
        item.votes.append(row)
    row.vote, row.comment = vote, (comment or "").strip() or None
    db.flush()
    audit.record(actor, "seance.voter", item, candidature=item.candidature,
                 after={"vote": vote})
    return row


def quorum_reached(item: AgendaItem) -> bool:
    conflicted = {c.user_id for c in item.conflicts}
    voters = {v.user_id for v in item.votes if v.user_id not in conflicted}
    return len(voters) >= item.seance.quorum


def decider(item: AgendaItem, *, actor: User, decision: str, motive: str | None = None,
            sections: list[str] | None = None) -> None:
    """The président records the séance's decision on one dossier."""
    seance = item.seance
    ensure_allowed(actor.id == seance.president_id and is_college(actor),
                   "Seul le président de la séance enregistre les décisions.")
    _open(seance)
    _ensure_started(seance)
    if item.decision:
        raise TransitionError("already_decided", "Ce dossier est déjà décidé.")
    if any(c.user_id == actor.id for c in item.conflicts):
        raise TransitionError("conflict_of_interest", "Le président a déclaré un conflit "
                                                      "d'intérêts sur ce dossier.", 403)
    if not quorum_reached(item):
        raise TransitionError("quorum_not_reached",
                              f"Quorum non atteint : {seance.quorum} votes de membres sans "
                              "conflit d'intérêts sont nécessaires.")
    candidature = item.candidature
    if decision == "favorable":
        college.decision_favorable(candidature, actor=actor)
    elif decision == "defavorable":
        college.decision_defavorable(candidature, actor=actor, motif=motive or "")
    elif decision == "ajournee":
        college.ajourner(candidature, actor=actor, motif=motive or "", sections=sections)
    else:
        raise InvalidInput("invalid_decision", "Décision inconnue.")
    item.decision, item.motive, item.decided_at = decision, (motive or "").strip() or None, now()
    db.flush()
    audit.record(actor, "seance.decider", item, candidature=candidature,
                 after={"decision": decision})


def clore(seance: Seance, *, actor: User) -> None:
    """Close the séance; its procès-verbal is generated by a job."""
    ensure_allowed(actor.id == seance.president_id or can_prepare(actor))
    _open(seance)
    _ensure_started(seance)
    pending = [i.candidature.reference for i in seance.items if not i.decision]
    if pending:
        raise TransitionError("undecided_items", "Dossiers sans décision : " +
                              ", ".join(pending) + ".")
    seance.status, seance.closed_at = "close", now()
    db.flush()
    audit.record(actor, "seance.clore", seance)
    schedule("college.proces_verbal", seance.id)
