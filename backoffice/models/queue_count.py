"""The home page's counts, kept by the transactions that move candidatures.

One row per place in the queues — démarche, current step, whose turn, assigned or not,
the day the step falls due — and how many candidatures in progress stand there. Every
flush that adds, moves or removes a candidature adds its +1/-1 to these rows in the same
transaction (`_count_moves`, below), so the home page reads a few hundred rows instead of
walking the candidatures in progress (issue 19: the counts used to be recomputed after
every commit that moved a candidature, which with many vérificateurs at work was most of
the time). "En retard" is read from the days before today plus the candidatures due
earlier today (an index range: those due today only).

Rows written outside the application (a restore, psql, the benchmark generator's COPY)
are not counted: `recount()` (`flask recompter-files`, and the nightly periodic job)
rebuilds the table from the candidatures."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Date,
    Integer,
    String,
    Table,
    and_,
    case,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, scoped_session
from sqlalchemy.orm.attributes import set_committed_value

from backoffice.db import Base, maintenance_timeout, utcnow

NO_TURN = ""  # a step whose status has no turn (the PRIMARY KEY allows no NULL)
NO_DUE_DAY = date(9999, 12, 31)  # FAR_FUTURE's day: no deadline
# the recount folds the days already gone into this one: they all count as « en retard »
PAST_DUE_DAY = date(1970, 1, 1)
IN_PROGRESS = "en_cours"
KEY_FIELDS = ("status", "demarche_code", "current_step", "queue_turn", "queue_assignee_id",
              "queue_due_at")

Key = tuple[str, str, str, bool, date]
PENDING = "queue_count_moves"  # Session.info: the moves of the flush under way


class QueueCount(Base):
    __tablename__ = "queue_count"
    # no CHECK (n >= 0): an INSERT ... ON CONFLICT checks the row it would insert (a
    # -1) before finding the conflict; and a count gone wrong behind the application's
    # back must not refuse a vérificateur's action (the nightly recount heals it)

    demarche_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    current_step: Mapped[str] = mapped_column(String(32), primary_key=True)
    queue_turn: Mapped[str] = mapped_column(String(16), primary_key=True)
    assigned: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    due_day: Mapped[date] = mapped_column(Date, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


def _key(values: dict[str, Any]) -> Key | None:
    if values["status"] != IN_PROGRESS:
        return None
    due: datetime | None = values["queue_due_at"]
    return (values["demarche_code"], values["current_step"], values["queue_turn"] or NO_TURN,
            values["queue_assignee_id"] is not None, utc_day(due) if due else NO_DUE_DAY)


def utc_day(moment: datetime) -> date:
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def _values(target: Any, which: str) -> dict[str, Any]:
    """The key's fields before or after the row's change being flushed."""
    state = inspect(target)
    values: dict[str, Any] = {}
    for name in KEY_FIELDS:
        history = state.attrs[name].history
        current = history.added[0] if history.added else (
            history.unchanged[0] if history.unchanged else getattr(target, name))
        values[name] = (history.deleted[0] if which == "before" and history.deleted
                        else current)
    return values


def _note(target: Any, before: Key | None, after: Key | None) -> None:
    if before == after:
        return
    session = object_session(target)
    if session is None:  # never: a row being flushed belongs to the flushing session
        return
    deltas: Counter[Key] = session.info.setdefault(PENDING, Counter())
    if before is not None:
        deltas[before] -= 1
    if after is not None:
        deltas[after] += 1


def _inserted(_mapper: Any, _connection: Any, target: Any) -> None:
    values = _values(target, "after")
    state = inspect(target)
    for name in KEY_FIELDS:
        # a column the INSERT left to NULL is not in the new object's state: without it,
        # its first change in this session would not say what it replaced
        if name not in state.dict:
            set_committed_value(target, name, values[name])
    _note(target, None, _key(values))


def _updated(_mapper: Any, _connection: Any, target: Any) -> None:
    _note(target, _key(_values(target, "before")), _key(_values(target, "after")))


def _deleted(_mapper: Any, _connection: Any, target: Any) -> None:
    _note(target, _key(_values(target, "before")), None)


def listen(candidature_class: type) -> None:
    """Called by models/candidature.py: each row the flush writes notes its move (the
    attribute history is the one being written), the flush's end adds them up."""
    event.listen(candidature_class, "after_insert", _inserted)
    event.listen(candidature_class, "after_update", _updated)
    event.listen(candidature_class, "after_delete", _deleted)


def _upsert(session: Session, deltas: Counter[Key]) -> None:
    rows = [{"demarche_code": k[0], "current_step": k[1], "queue_turn": k[2],
             "assigned": k[3], "due_day": k[4], "n": n}
            for k, n in sorted(deltas.items()) if n]  # one order: no deadlock between two
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        # the same on_conflict_do_update API, each dialect its own Insert class
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    stmt = upsert(cast(Table, QueueCount.__table__))  # a mapped class's Table (typed FromClause)
    stmt = stmt.on_conflict_do_update(
        index_elements=["demarche_code", "current_step", "queue_turn", "assigned", "due_day"],
        set_={"n": QueueCount.__table__.c.n + stmt.excluded.n})
    connection.execute(stmt, rows)


@event.listens_for(Session, "after_flush")
def _count_moves(session: Session, _context: object) -> None:
    deltas = session.info.pop(PENDING, None)
    if deltas:
        _upsert(session, deltas)


@event.listens_for(Session, "before_flush")
def _forget_moves(session: Session, _context: object, _instances: object) -> None:
    session.info.pop(PENDING, None)  # what a flush that failed half way noted: not written


def recount(session: Session | scoped_session[Session]) -> int:
    """Rebuild the counts from the candidatures; returns the candidatures in progress.
    On PostgreSQL the table is locked against writers for the recount: a transaction that
    moved a candidature has committed before it starts (its move is read), one that moves
    one meanwhile waits and adds its move to the recount."""
    from backoffice.models.candidature import Candidature

    maintenance_timeout(session)  # every candidature read: longer than a page's bound
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE queue_count IN EXCLUSIVE MODE"))
    connection.execute(delete(QueueCount))
    due_day = (func.date(func.timezone("UTC", Candidature.queue_due_at))
               if connection.dialect.name == "postgresql"
               else func.date(Candidature.queue_due_at))
    turn = func.coalesce(Candidature.queue_turn, literal(NO_TURN))
    assigned = case((Candidature.queue_assignee_id.is_(None), False), else_=True)
    grouped = (select(Candidature.demarche_code, Candidature.current_step, turn, assigned,
                      due_day, func.count())
               .where(Candidature.status == IN_PROGRESS)
               .group_by(Candidature.demarche_code, Candidature.current_step, turn, assigned,
                         due_day))
    # The days before today are folded into one row per place (PAST_DUE_DAY): the home page
    # reads every row of its démarches, and at 1M candidatures the days gone by were 28,575
    # of 29,792 rows. A later move of a candidature due on one of those days adds its -1 to
    # that day's row: every day before today is summed as « en retard » alike.
    today = utcnow().date()  # the application's clock, as team_counts' `now`
    folded: Counter[tuple[str, str, str, bool, date]] = Counter()
    for d, s, t, a, day, n in connection.execute(grouped):
        day = day if isinstance(day, date) else date.fromisoformat(day)
        folded[(d, s, t, bool(a), PAST_DUE_DAY if day < today else day)] += n
    if folded:
        connection.execute(insert(QueueCount), [
            {"demarche_code": d, "current_step": s, "queue_turn": t, "assigned": a,
             "due_day": day, "n": n}
            for (d, s, t, a, day), n in folded.items()])
    return sum(folded.values())


def team_counts(session: Session | scoped_session[Session], demarches: tuple[str, ...],
                now: datetime) -> list[tuple]:
    """Per démarche and step: in progress, to take (ANS's turn, nobody on it), on the
    vendor's side, overdue. Two reads: the counts' rows of these démarches, and the
    candidatures due earlier today (the index on the due date, today's only)."""
    from backoffice.models.candidature import Candidature

    def total(condition: Any = None) -> Any:
        value = QueueCount.n if condition is None else case((condition, QueueCount.n), else_=0)
        return func.coalesce(func.sum(value), 0)

    now = now.astimezone(UTC)
    today = now.date()
    rows = session.execute(
        select(QueueCount.demarche_code, QueueCount.current_step, total(),
               total(and_(QueueCount.queue_turn == "ans", QueueCount.assigned.is_(False))),
               total(QueueCount.queue_turn == "industriel"),
               total(QueueCount.due_day < today))
        .where(QueueCount.demarche_code.in_(demarches))
        .group_by(QueueCount.demarche_code, QueueCount.current_step)
        .having(func.sum(QueueCount.n) > 0)).all()
    start_of_day = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    due_today = dict(((code, step), n) for code, step, n in session.execute(
        select(Candidature.demarche_code, Candidature.current_step, func.count())
        .where(Candidature.status == IN_PROGRESS,
               Candidature.queue_due_at >= start_of_day, Candidature.queue_due_at < now,
               Candidature.demarche_code.in_(demarches))
        .group_by(Candidature.demarche_code, Candidature.current_step)))
    return [(code, step, int(n), int(to_take), int(on_vendor),
             int(overdue) + due_today.get((code, step), 0))
            for code, step, n, to_take, on_vendor, overdue in rows]
