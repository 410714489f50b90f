"""« Quoi de neuf » (issue 18, item 1): what changed on a dossier since the vérificateur
last opened it, read from the audit trail (every message, file, submission and decision
writes an audit event), never per row.

- The queue: one grouped statement for the page's candidatures (their `dossier_seen` row
  joined to the events after it): « Modifié » when someone else did something since the
  user last opened the dossier, « Nouveau » when the user never opened a dossier that is
  theirs to take or theirs already (a colleague's dossier they never opened is not news).
- The dossier: the same statement for one candidature, grouped by action, gives each tab
  its mark. A visit spans the tabs: the mark compares with the time the dossier was seen
  before this visit (kept in the session), so opening the Formulaire tab does not hide
  the Pièces tab's news; a visit ends when another dossier is opened or after
  VISIT_MINUTES without a page of this one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import session
from sqlalchemy import and_, func, literal, or_, select

from backoffice.db import UTCDateTime, db
from backoffice.models import AuditEvent, Candidature, DossierSeen
from backoffice.workflow.definitions import STEPS, StepKind

VISIT_MINUTES = 30
# reading is not changing: a file opened leaves the dossier as it was
NOT_NEWS = ("fichier.ouvrir",)
NOUVEAU, MODIFIE = "nouveau", "modifie"
LABELS = {NOUVEAU: "Nouveau", MODIFIE: "Modifié"}


def tab_of(action: str) -> str:
    """The dossier tab where an audit event shows."""
    prefix, _, verb = action.partition(".")
    if prefix == "messagerie":
        return "messagerie"
    if verb == "ajouter_piece" or action in ("support.supprimer_fichier",
                                             "antivirus.fichier_infecte"):
        return "pieces"
    if prefix in STEPS and STEPS[prefix].kind == StepKind.form and \
            verb in ("soumettre", "enregistrer_formulaire"):
        return "formulaire"
    if prefix in ("section", "preuves"):
        return "preuves"
    return "historique"  # decisions, convention, collège, assignments


# what a tab's news is: new things (messages, files, events) or things changed
TAB_MARKS = {"messagerie": NOUVEAU, "pieces": NOUVEAU, "historique": NOUVEAU,
             "formulaire": MODIFIE, "preuves": MODIFIE}


def _by_others(user_id: int):
    return or_(AuditEvent.actor_id.is_(None), AuditEvent.actor_id != user_id)


def _news(user_id: int, candidature_ids: Iterable[int], since: datetime | None = None,
          by_action: bool = False):
    """(candidature id, seen_at[, action], latest event by others after it) for the
    candidatures this user has seen; `since` replaces seen_at (a visit under way)."""
    after = DossierSeen.seen_at if since is None else literal(since, UTCDateTime())
    columns = [DossierSeen.candidature_id, DossierSeen.seen_at]
    if by_action:
        columns.append(AuditEvent.action)
    stmt = (select(*columns, func.max(AuditEvent.created_at))
            .select_from(DossierSeen)
            .outerjoin(AuditEvent, and_(AuditEvent.candidature_id == DossierSeen.candidature_id,
                                        AuditEvent.created_at > after,
                                        AuditEvent.action.not_in(NOT_NEWS),
                                        _by_others(user_id)))
            .where(DossierSeen.user_id == user_id,
                   DossierSeen.candidature_id.in_(list(candidature_ids)))
            .group_by(*columns))
    return db.execute(stmt).all()


def queue_marks(user_id: int, rows: list[Any]) -> dict[int, str]:
    """{candidature id: NOUVEAU | MODIFIE} for a page of queue rows: one statement."""
    if not rows:
        return {}
    changed: dict[int, bool] = {}
    for candidature_id, _seen, latest in _news(user_id, (r.id for r in rows)):
        changed[candidature_id] = latest is not None
    marks = {}
    for row in rows:
        if row.id in changed:
            if changed[row.id]:
                marks[row.id] = MODIFIE
        elif row.candidature_status == "en_cours" and row.step_status != "brouillon" \
                and row.assignee_id in (None, user_id):
            marks[row.id] = NOUVEAU
    return marks


def visit_since(reference: str, now: datetime) -> tuple[bool, datetime | None]:
    """(visit under way, the time the dossier was seen before it) from the session."""
    visit = session.get("visite_dossier")
    if not visit or visit.get("ref") != reference:
        return False, None
    last = datetime.fromisoformat(visit["last"])
    if now - last > timedelta(minutes=VISIT_MINUTES):
        return False, None
    return True, datetime.fromisoformat(visit["since"])


def dossier_news(user_id: int, candidature_id: int, reference: str, now: datetime, *,
                 riders: dict[str, Any] | None = None
                 ) -> tuple[dict[str, str], dict[str, Any], bool]:
    """({tab: NOUVEAU | MODIFIE}, the riders' values, whether the seen mark must move) for
    a dossier page, in one statement: `riders`, uncorrelated scalar subqueries the page
    needs anyway (the unread count, the delay's unit), ride along, so that the page keeps
    its budget. Remembers the visit in the session.

    The mark must move when the user never saw the dossier or when someone else did
    something since it was written; otherwise moving it changes no mark (marks compare
    other people's events with it), so the page writes nothing."""
    riders = riders or {}
    going_on, since = visit_since(reference, now)
    after = DossierSeen.seen_at if not going_on else literal(since, UTCDateTime())
    stmt = (select(*(value.label(f"rider_{name}") for name, value in riders.items()),
                   DossierSeen.seen_at, AuditEvent.action, func.max(AuditEvent.created_at))
            .select_from(Candidature)
            .outerjoin(DossierSeen, and_(DossierSeen.candidature_id == Candidature.id,
                                         DossierSeen.user_id == user_id))
            .outerjoin(AuditEvent, and_(AuditEvent.candidature_id == Candidature.id,
                                        AuditEvent.created_at > after,
                                        AuditEvent.action.not_in(NOT_NEWS),
                                        _by_others(user_id)))
            .where(Candidature.id == candidature_id)
            .group_by(DossierSeen.seen_at, AuditEvent.action))
    result = db.execute(stmt).all()
    first = len(riders)  # the riders' columns come first
    values = dict(zip(riders, result[0][:first], strict=True)) if result else {}
    rows = [tuple(row[first:]) for row in result]
    if not going_on or since is None:  # a visit starts: what others do from now on is
        since = (rows[0][0] if rows else None) or now  # news in it too
    session["visite_dossier"] = {"ref": reference, "last": now.isoformat(),
                                 "since": since.isoformat()}
    marks: dict[str, str] = {}
    stored = rows[0][0] if rows else None
    stale = stored is None
    for _seen, action, latest in rows:
        if action is not None and latest is not None:
            tab = tab_of(action)
            marks[tab] = TAB_MARKS[tab]
            stale = stale or latest > stored
    return marks, values, stale


def seen_statement(user_id: int, candidature_id: int, at: datetime) -> Any:
    """The upsert of (user, dossier) -> seen at `at` (never moving backwards)."""
    values = {"user_id": user_id, "candidature_id": candidature_id, "seen_at": at}
    newest: Callable[..., Any]
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
        newest = func.greatest
    else:
        # the same on_conflict_do_update API, each dialect its own Insert class
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        newest = func.max
    stmt = insert(DossierSeen).values(**values)
    return stmt.on_conflict_do_update(
        index_elements=["user_id", "candidature_id"],
        set_={"seen_at": newest(DossierSeen.seen_at, stmt.excluded.seen_at)})
