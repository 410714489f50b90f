"""The dossiers each vérificateur follows (« Suivis »), kept by the transactions.

A user follows a dossier once they have held one of its steps or decided one: a dossier
handed to a colleague, or released, stays in the « Suivis » of the one who held it
(docs/workspace.md). This table holds one row per user and dossier, so that « Suivis »
reads the user's own entries in dossier order and stops at its count's limit, and probes
one entry per row it walks (the steps alone, read through a semi-join, walked every step
the user ever touched: 66,000 for the bench's vérificateur at 1M candidatures, and knew
nothing of the steps handed on: docs/benchmarks/queues-1m.md).

Every flush that writes a step adds its holder and its decider to the dossier's follows,
in the same transaction (`_sync_follows`); a follow is never removed by a transition.
Rows written outside the application (a restore, psql, the benchmark generator's COPY)
are healed by `refollow()` (the nightly recount and `flask recompter-files`), which adds
the follows the steps show and keeps the others (the steps do not tell who held them
before).

The same module keeps `dossier_holding`: the open dossiers each user holds now, their
current step or one of their sections of evidence under review (« Mes dossiers », the
queue's « attribution = moi »). It is the state of the candidatures and sections, re-derived
for each dossier a flush moves (its holder, its status, a section's reviewer or status),
stale rows removed; `heal()` re-derives it whole."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    and_,
    delete,
    event,
    exists,
    inspect,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, scoped_session

from backoffice.db import Base, maintenance_timeout

PENDING = "follows_to_sync"  # Session.info: the dossiers whose steps the flush wrote
HOLDINGS = "holdings_to_sync"  # Session.info: the dossiers whose holders may have moved
TEXTS = "search_texts_to_sync"  # Session.info: the dossiers whose search text changed


# what « Suivis » and « Mes dossiers » check along the user's rows besides their order:
# the démarche, the search text, and for the holdings the step (PostgreSQL: INCLUDE
# columns, the walk reads the index alone)
FOLLOW_INCLUDES = ["demarche_code", "search_text"]
HOLDING_INCLUDES = ["demarche_code", "current_step", "search_text"]


class DossierFollow(Base):
    """One row per user and dossier followed, with the dossier's démarche and search text
    (copies of the candidature's, kept by the flushes): « Suivis » counts the user's
    follows (of a frequent term) from an index alone, stopped at its limit, and finds a
    rare term's matches among them by their own trigram index."""

    __tablename__ = "dossier_follow"
    __table_args__ = (
        Index("ix_dossier_follow_walk", "user_id", "candidature_id",
              postgresql_include=FOLLOW_INCLUDES),
        # a rare term among the user's follows: the trigrams of their search texts, by
        # user (btree_gin): the index names the user's few matches
        Index("ix_dossier_follow_search_trgm", "user_id", "search_text",
              postgresql_using="gin", postgresql_ops={"search_text": "gin_trgm_ops"}),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), primary_key=True, index=True)
    demarche_code: Mapped[str] = mapped_column(String(32))
    search_text: Mapped[str | None] = mapped_column(Text)


class DossierHolding(Base):
    """One row per open dossier and user who holds its current step or reviews one of
    its sections (submitted to them again, or under their review), with the dossier's
    sort keys: « Mes dossiers » walks the user's rows in the sort's order (one index per
    sort) and stops after a page, however rare the user's dossiers among the open ones."""

    __tablename__ = "dossier_holding"
    __table_args__ = (
        Index("ix_dossier_holding_attente", "user_id", "queue_since", "candidature_id",
              postgresql_include=HOLDING_INCLUDES),
        Index("ix_dossier_holding_echeance", "user_id", "queue_due_at", "candidature_id",
              postgresql_include=HOLDING_INCLUDES),
        Index("ix_dossier_holding_activite", "user_id", "last_activity_at", "candidature_id",
              postgresql_include=HOLDING_INCLUDES),
        Index("ix_dossier_holding_place", "user_id", "demarche_code", "current_step"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), primary_key=True, index=True)
    # copies of the candidature's (models/candidature.py), kept by the flushes: its sort
    # keys, where it stands (the home page's « Mes dossiers » by démarche and step), and
    # what the search looks into
    queue_since: Mapped[datetime]
    queue_due_at: Mapped[datetime]
    last_activity_at: Mapped[datetime]
    demarche_code: Mapped[str] = mapped_column(String(32))
    current_step: Mapped[str] = mapped_column(String(32))
    search_text: Mapped[str | None] = mapped_column(Text)  # checked along the walk


KEYS = ("queue_since", "queue_due_at", "last_activity_at", "demarche_code", "current_step",
        "search_text")


def _followers() -> Any:
    """(user_id, candidature_id) of every step's holder and decider, each pair once."""
    from backoffice.models.candidature import CandidatureStep as S

    return union(
        select(S.assignee_id.label("user_id"), S.candidature_id)
        .where(S.assignee_id.is_not(None)),
        select(S.decided_by_id, S.candidature_id).where(S.decided_by_id.is_not(None)),
    ).subquery("followers")


def _noted(_mapper: Any, _connection: Any, target: Any) -> None:
    session = object_session(target)
    if session is not None and target.candidature_id is not None:
        session.info.setdefault(PENDING, set()).add(target.candidature_id)


def listen(step_class: type) -> None:
    """Called by models/candidature.py: each step the flush writes names its dossier."""
    event.listen(step_class, "after_insert", _noted)
    event.listen(step_class, "after_update", _noted)


def _holding_noted(target: Any, candidature_id: int | None) -> None:
    session = object_session(target)
    if session is not None and candidature_id is not None:
        session.info.setdefault(HOLDINGS, set()).add(candidature_id)


def _holding_changed(target: Any, names: tuple[str, ...]) -> bool:
    state = inspect(target)
    return any(state.attrs[name].history.has_changes() for name in names)


def listen_holdings(candidature_class: type, section_class: type) -> None:
    """Called by models/instruction.py: a candidature whose holder or status moved, a
    section whose reviewer or status moved, names its dossier."""
    def candidature(_mapper: Any, _connection: Any, target: Any) -> None:
        _holding_noted(target, target.id)

    def candidature_moved(_mapper: Any, _connection: Any, target: Any) -> None:
        if _holding_changed(target, ("queue_assignee_id", "status", *KEYS)):
            _holding_noted(target, target.id)
        if _holding_changed(target, ("search_text",)):
            texts_changed(object_session(target), [target.id])

    def section(_mapper: Any, _connection: Any, target: Any) -> None:
        _holding_noted(target, target.candidature_id)

    def section_moved(_mapper: Any, _connection: Any, target: Any) -> None:
        if _holding_changed(target, ("assignee_id", "status")):
            _holding_noted(target, target.candidature_id)

    event.listen(candidature_class, "after_insert", candidature)
    event.listen(candidature_class, "after_update", candidature_moved)
    event.listen(section_class, "after_insert", section)
    event.listen(section_class, "after_update", section_moved)


def texts_changed(session: Session | None, ids: list[int]) -> None:
    """These dossiers' search text changed (a candidature's, or every candidature of a
    product or vendor renamed, written in bulk): their follows and holdings copy it after
    the flush."""
    if session is not None and ids:
        session.info.setdefault(TEXTS, set()).update(ids)


def _sync_texts(session: Session | scoped_session[Session], ids: list[int] | None,
                model: type[DossierFollow] | type[DossierHolding]) -> None:
    """The follows (or holdings) of these dossiers (None: all) say their dossier's search
    text (and démarche: the follows'; only the rows that differ are written)."""
    from backoffice.models.candidature import Candidature as C

    columns = ("search_text", "demarche_code") if model is DossierFollow else ("search_text",)
    table = cast(Table, model.__table__)  # a mapped class's Table
    # UPDATE ... FROM: one join (a subquery per row and column took 15 s for the 2.3
    # million follows of the 1M benchmark, the join 2 s)
    stmt = (update(table).values({name: getattr(C, name) for name in columns})
            .where(C.id == table.c.candidature_id, or_(*(
                table.c[name].is_distinct_from(getattr(C, name)) for name in columns))))
    if ids is not None:
        stmt = stmt.where(table.c.candidature_id.in_(ids))
    session.connection().execute(stmt)


def _holders() -> Any:
    """(user_id, candidature_id) of every open dossier's holders, each pair once."""
    from backoffice.models.candidature import Candidature as C
    from backoffice.models.instruction import SECTION_HELD
    from backoffice.models.instruction import SectionReview as R

    return union(
        select(C.queue_assignee_id.label("user_id"), C.id.label("candidature_id"))
        .where(C.status == "en_cours", C.queue_assignee_id.is_not(None)),
        select(R.assignee_id, R.candidature_id)
        .join(C, C.id == R.candidature_id)
        .where(R.status.in_(SECTION_HELD), R.assignee_id.is_not(None),
               C.status == "en_cours"),
    ).subquery("holders")


def _still_held() -> Any:
    from backoffice.models.candidature import Candidature as C
    from backoffice.models.instruction import SECTION_HELD
    from backoffice.models.instruction import SectionReview as R

    h = DossierHolding
    return or_(
        exists().where(C.id == h.candidature_id, C.status == "en_cours",
                       C.queue_assignee_id == h.user_id),
        exists().where(R.candidature_id == h.candidature_id, R.assignee_id == h.user_id,
                       R.status.in_(SECTION_HELD),
                       exists().where(C.id == h.candidature_id, C.status == "en_cours")))


def _sync_holdings(session: Session | scoped_session[Session],
                   ids: list[int] | None) -> None:
    """Add the missing holdings and remove the stale ones, of these dossiers (None:
    all)."""
    from backoffice.models.candidature import Candidature as C

    connection = session.connection()
    holders = _holders()
    missing = (select(holders.c.user_id, holders.c.candidature_id,
                      *(getattr(C, key) for key in KEYS))
               .join(C, C.id == holders.c.candidature_id)
               .where(~exists().where(
                   DossierHolding.user_id == holders.c.user_id,
                   DossierHolding.candidature_id == holders.c.candidature_id)))
    stale = delete(DossierHolding).where(~_still_held())
    keys = update(DossierHolding).values({
        key: select(getattr(C, key)).where(C.id == DossierHolding.candidature_id)
        .scalar_subquery() for key in KEYS})
    if ids is not None:
        missing = missing.where(holders.c.candidature_id.in_(ids))
        stale = stale.where(DossierHolding.candidature_id.in_(ids))
        keys = keys.where(DossierHolding.candidature_id.in_(ids))
    connection.execute(stale)
    connection.execute(keys)
    connection.execute(_insert(connection, DossierHolding)
                       .from_select(["user_id", "candidature_id", *KEYS], missing)
                       .on_conflict_do_nothing())


def _insert(connection: Any, model: type[Base]) -> Any:
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    return upsert(cast(Table, model.__table__))  # a mapped class's Table


def _sync(session: Session | scoped_session[Session], ids: list[int] | None) -> None:
    """Add the follows the steps of these dossiers show (None: of every dossier)."""
    from backoffice.models.candidature import Candidature as C

    connection = session.connection()
    followers = _followers()
    missing = (select(followers.c.user_id, followers.c.candidature_id, C.demarche_code,
                      C.search_text)
               .join(C, C.id == followers.c.candidature_id)
               .where(~exists().where(
                   DossierFollow.user_id == followers.c.user_id,
                   DossierFollow.candidature_id == followers.c.candidature_id)))
    if ids is not None:
        missing = missing.where(followers.c.candidature_id.in_(ids))
    connection.execute(_insert(connection, DossierFollow)
                       .from_select(["user_id", "candidature_id", *FOLLOW_INCLUDES], missing)
                       .on_conflict_do_nothing())


# insert=True: before the home page's counts (models/queue_count.py). A flush writes the
# holdings, then the counts; the nightly job locks them in that order too (refollow, then
# recount): the two never wait for each other the other way round.
@event.listens_for(Session, "after_flush", insert=True)
def _sync_follows(session: Session, _context: object) -> None:
    # the follows first, then the holdings (the order refollow() takes them in)
    ids = session.info.pop(PENDING, None)
    if ids:
        _sync(session, sorted(ids))
    # (noted before the flush too, by the bulk rename: not forgotten by _forget_follows)
    texts = sorted(session.info.pop(TEXTS, ()))
    if texts:
        _sync_texts(session, texts, DossierFollow)
    ids = session.info.pop(HOLDINGS, None)
    if ids:
        _sync_holdings(session, sorted(ids))
    if texts:
        _sync_texts(session, texts, DossierHolding)


@event.listens_for(Session, "before_flush")
def _forget_follows(session: Session, _context: object, _instances: object) -> None:
    session.info.pop(PENDING, None)  # what a flush that failed half way noted
    session.info.pop(HOLDINGS, None)


def refollow(session: Session | scoped_session[Session]) -> None:
    """After rows were written outside the application: add every follow the steps
    show (the others are kept), and re-derive every holding. On PostgreSQL the holdings
    are locked against writers meanwhile (as the recount locks the counts): a transaction
    moving dossiers waits for it rather than deadlocking on rows taken in another order."""
    maintenance_timeout(session)  # every step read: longer than a page's bound at 1M
    _sync(session, None)
    _sync_texts(session, None, DossierFollow)  # the holdings' copies: with their keys
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE dossier_holding IN EXCLUSIVE MODE"))
    _sync_holdings(session, None)


def held_by(user_id: Any) -> Any:
    """The condition « the dossier is held by this user » (its step or a section), for a
    query on candidatures (one probe of the table's primary key per row)."""
    from backoffice.models.candidature import Candidature

    return exists().where(and_(DossierHolding.user_id == user_id,
                               DossierHolding.candidature_id == Candidature.id))


def followed_by(user_id: Any) -> Any:
    """The condition « the dossier is followed by this user », for a query on
    candidatures (one probe of the table's primary key per row)."""
    from backoffice.models.candidature import Candidature

    return exists().where(and_(DossierFollow.user_id == user_id,
                               DossierFollow.candidature_id == Candidature.id))
