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
before)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    ForeignKey,
    Table,
    and_,
    event,
    exists,
    select,
    true,
    union,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, scoped_session

from backoffice.db import Base

PENDING = "follows_to_sync"  # Session.info: the dossiers whose steps the flush wrote


class DossierFollow(Base):
    __tablename__ = "dossier_follow"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), primary_key=True, index=True)


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


def _insert(connection: Any) -> Any:
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    return upsert(cast(Table, DossierFollow.__table__))  # a mapped class's Table


def _sync(session: Session | scoped_session[Session], ids: list[int] | None) -> None:
    """Add the follows the steps of these dossiers show (None: of every dossier)."""
    connection = session.connection()
    followers = _followers()
    missing = select(followers.c.user_id, followers.c.candidature_id).where(
        true(),  # SQLite: an INSERT ... SELECT with ON CONFLICT needs a WHERE
        ~exists().where(DossierFollow.user_id == followers.c.user_id,
                        DossierFollow.candidature_id == followers.c.candidature_id))
    if ids is not None:
        missing = missing.where(followers.c.candidature_id.in_(ids))
    connection.execute(_insert(connection)
                       .from_select(["user_id", "candidature_id"], missing)
                       .on_conflict_do_nothing())


@event.listens_for(Session, "after_flush")
def _sync_follows(session: Session, _context: object) -> None:
    ids = session.info.pop(PENDING, None)
    if ids:
        _sync(session, sorted(ids))


@event.listens_for(Session, "before_flush")
def _forget_follows(session: Session, _context: object, _instances: object) -> None:
    session.info.pop(PENDING, None)  # what a flush that failed half way noted


def refollow(session: Session | scoped_session[Session]) -> None:
    """Add every follow the steps show (after rows were written outside the
    application); the others are kept."""
    _sync(session, None)


def followed_by(user_id: Any) -> Any:
    """The condition « the dossier is followed by this user », for a query on
    candidatures (one probe of the table's primary key per row)."""
    from backoffice.models.candidature import Candidature

    return exists().where(and_(DossierFollow.user_id == user_id,
                               DossierFollow.candidature_id == Candidature.id))
