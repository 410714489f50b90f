"""The vérificateur's queues: filters, keyset pagination, a fixed number of queries per
page whatever the number of rows."""

from __future__ import annotations

import base64
import functools
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from backoffice import safetext
from backoffice.db import UTCDateTime, db
from backoffice.models import (
    Candidature,
    CandidatureStep,
    Certificat,
    Message,
    MessageRead,
    Organisation,
    Product,
    SectionReview,
    User,
)
from backoffice.models.follow import DossierFollow, DossierHolding, followed_by, held_by
from backoffice.models.instruction import SECTION_HELD
from backoffice.queues.search import how_to_search
from backoffice.queues.turns import ans_turn, vendor_turn
from backoffice.workflow.definitions import (
    DEMARCHES,
    STEP_STATUSES,
    STEPS,
    CandidatureStatus,
)
from backoffice.workflow.delays import days_left

SORTS = ("attente", "echeance", "activite", "cloture")
# The views (issue 18, item 2; docs/workspace.md, « Vues et recherche »), the sorts each
# offers (each walks an index of its own, or sorts a bounded set: « Suivis »), first the
# default one.
VIEWS = {"a_traiter": "À traiter", "suivis": "Suivis", "traites": "Traités", "tous": "Tous"}
VIEW_SORTS = {
    "a_traiter": ("attente", "echeance", "activite"),
    "suivis": ("activite", "attente", "echeance"),
    "traites": ("cloture", "activite"),
    "tous": ("activite",),
}
# the direction of each sort when none is asked: what waits longest, what is due first,
# what moved or ended last
DESCENDING_BY_DEFAULT = {"attente": False, "echeance": False, "activite": True,
                         "cloture": True}
# Steps in process order: each démarche's steps (and the ligne générique's transitional
# ones) keep their order in it (tests/reviewer/test_queue_views.py checks it).
STEP_ORDER = ("depot", "eligibilite", "recevabilite", "convention", "preuves",
              "preuves_pour_avis", "college", "certificat", "referencement")
# the sorts « Mes dossiers » reads from the user's holdings (their copies of the keys)
HOLDING_SORTS = {"attente": "queue_since", "echeance": "queue_due_at",
                 "activite": "last_activity_at"}
COUNT_LIMIT = 1000  # counted exactly up to this, « plus de 1 000 » beyond
# Written into the SQL, not sent as a parameter: PostgreSQL then keeps one plan of a queue
# statement (prepared after a few pages) that still walks the partial indexes, whose
# predicate it can only match against a constant. The page's LIMIT likewise.
IN_PROGRESS = literal(CandidatureStatus.en_cours.value, literal_execute=True)
SIRET_LENGTH = 14
PAGE_SIZE = 50


class InvalidCursor(ValueError):
    pass


@dataclass
class Filters:
    view: str = "a_traiter"
    demarche: str | None = None
    step: str | None = None
    status: str | None = None
    assignee: str | None = None  # "moi", "personne" or a user id
    turn: str | None = None  # "ans" or "industriel"
    overdue: bool = False
    campaign: int | None = None
    q: str | None = None
    sort: str = "attente"
    order: str | None = None  # "asc" or "desc"; None: the sort's own direction

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        def text(name: str) -> str | None:
            # The HTTP guard (safetext.check_request) already refuses control characters;
            # a queue read from elsewhere (exports, benchmarks) strips them all the same.
            value = safetext.searchable(args.get(name) or "").strip()
            return value or None

        campaign = text("campagne")
        asked_view, asked_sort = text("vue"), text("tri")
        view = asked_view if asked_view in VIEWS else "a_traiter"
        sorts = VIEW_SORTS[view]
        return cls(
            view=view,
            demarche=text("demarche"), step=text("etape"), status=text("statut"),
            assignee=text("attribution"), turn=text("tour"),
            overdue=args.get("en_retard") in ("1", "on", "true"),
            campaign=int(campaign) if campaign and campaign.isdigit() else None,
            q=text("q"), sort=asked_sort if asked_sort in sorts else sorts[0],
            order=text("ordre") if text("ordre") in ("asc", "desc") else None,
        )

    @property
    def descending(self) -> bool:
        if self.order is None:
            return DESCENDING_BY_DEFAULT[self.sort]
        return self.order == "desc"

    def as_args(self) -> dict[str, str]:
        default_sort = VIEW_SORTS.get(self.view, VIEW_SORTS["a_traiter"])[0]
        args = {"vue": self.view if self.view != "a_traiter" else None,
                "demarche": self.demarche, "etape": self.step, "statut": self.status,
                "attribution": self.assignee, "tour": self.turn,
                "en_retard": "1" if self.overdue else None,
                "campagne": str(self.campaign) if self.campaign else None, "q": self.q,
                "tri": self.sort if self.sort != default_sort else None,
                "ordre": self.order if self.order and
                self.descending != DESCENDING_BY_DEFAULT[self.sort] else None}
        return {k: v for k, v in args.items() if v}

    def sorted_by(self, sort: str) -> dict[str, str]:
        """The arguments of a sortable header: this sort, or its other direction when it
        is the current one."""
        args = {k: v for k, v in self.as_args().items() if k not in ("tri", "ordre")}
        if sort != VIEW_SORTS[self.view][0]:
            args["tri"] = sort
        if sort == self.sort:
            args["ordre"] = "asc" if self.descending else "desc"
        return args


def steps_in_view(demarches: list[str], demarche: str | None = None) -> list[str]:
    """The steps of the démarches in view (the chosen one, or all the user's), in process
    order."""
    codes = [demarche] if demarche in demarches else demarches
    present = {s for code in codes for s in
               (*DEMARCHES[code].steps, *(DEMARCHES[code].transitional_steps or ()))}
    return [s for s in STEP_ORDER if s in present]


def statuses_in_view(steps: list[str], step: str | None = None) -> list[str]:
    """The statuses the steps in view can be in (the chosen step's, or all of theirs),
    a step not opened yet aside."""
    codes = [step] if step in steps else steps
    kinds = dict.fromkeys(STEPS[code].kind for code in codes)
    return list(dict.fromkeys(s.value for kind in kinds for s in STEP_STATUSES[kind]
                              if s.value != "a_venir"))


def visible_demarches(user: User) -> list[str]:
    """A vérificateur sees the démarches of their teams' parcours only."""
    return [code for code, d in DEMARCHES.items() if d.parcours.value in user.parcours]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(slots=True)  # not frozen: built 100,000 times by a CSV export
class Row:
    id: int
    reference: str
    demarche_code: str
    product_label: str
    organisation: str
    step: str
    step_status: str
    submitted_at: datetime | None
    waiting_since: datetime | None
    due_at: datetime | None
    paused: bool
    days_left: float | None
    assignee_id: int | None
    assignee_name: str | None
    last_activity_at: datetime
    unread: int
    sections_total: int
    sections_validated: int
    candidature_status: str
    closed_at: datetime | None


def _sort_key(sort: str) -> Any:
    """The sort's column: each walks one index of the candidature table (the open
    candidatures' partial ones in « À traiter »; docs/workspace.md)."""
    if sort == "echeance":
        return Candidature.queue_due_at
    if sort == "activite":
        return Candidature.last_activity_at
    if sort == "cloture":
        return Candidature.closed_at
    return Candidature.queue_since


@dataclass(frozen=True)
class _Shape:
    """What the queue's statement depends on, values aside: one statement is built and
    compiled per shape (and kept), the values go as parameters (docs/benchmarks.md)."""
    sort: str
    descending: bool = False
    view: str = "a_traiter"
    siret: bool = False
    demarche: bool = False
    step: bool = False
    status: bool = False
    assignee: str | None = None  # "id" (a colleague's steps), "holds" (mine), "personne"
    turn: str | None = None
    overdue: bool = False
    campaign: bool = False
    search: str | None = None  # "text": reference, product or vendor contains a term
    search_parts: int = 0  # the index asked for this many parts of a rare term (search.py)
    search_frequent: bool = False  # a term in 2 % of the search texts or more (search.py)
    after: bool = False
    counting: bool = False  # the statement of count(), not of a page
    with_total: bool = False  # a page that also says how many rows the queue has


def _shape_and_params(user: User, f: Filters, now: datetime, after: str | None,
                      session: Session | None = None) -> tuple[_Shape, dict[str, Any]]:
    demarches = visible_demarches(user)
    params: dict[str, Any] = {"user_id": user.id, "now": now, "demarches": demarches}
    shape: dict[str, Any] = {"sort": f.sort, "descending": f.descending, "view": f.view}
    for name, value in (("demarche", f.demarche), ("step", f.step), ("status", f.status),
                        ("campaign", f.campaign)):
        if value:
            shape[name], params[name] = True, value
    if f.assignee == "moi":
        # « Mes dossiers »: the steps I hold and the dossiers where I review a section
        shape["assignee"], params["assignee_id"] = "holds", user.id
    elif f.assignee == "personne":
        shape["assignee"] = "personne"
    elif f.assignee and f.assignee.isdigit():
        shape["assignee"], params["assignee_id"] = "id", int(f.assignee)
    if f.turn in ("ans", "industriel"):
        shape["turn"] = f.turn
    if f.overdue:
        shape["overdue"] = True
    siret = siret_of(f.q)
    if siret:
        shape["siret"], params["siret"] = True, siret
    elif f.q:
        shape["search"], params["pattern"] = "text", search_pattern(f.q)
        parts, frequent = how_to_search((session or db).connection(), f.q.lower())
        if parts:
            shape["search_parts"] = len(parts)
            params.update({f"part_{i}": _like(part) for i, part in enumerate(parts)})
        shape["search_frequent"] = frequent
    if after:
        cursor_value, row_id = decode_cursor(after)
        shape["after"] = True
        params["cursor_value"], params["cursor_id"] = cursor_value, row_id
    return _Shape(**shape), params


def base_query(user: User, filters: Filters, now: datetime, *,
               counting: bool = False) -> tuple[Select, Any, Any]:
    """The ids of the queue, with their sort values, in no order (for callers outside
    page(): counts, explain), values bound; `counting`: the shape count() reads."""
    shape, params = _shape_and_params(user, filters, now, None)
    if counting:
        shape = replace(shape, counting=True)
    stmt, sort_expr, _, descending = _matches(shape)
    return stmt.params(**params), sort_expr, descending


def _holdings_walked(shape: _Shape) -> bool:
    """« Mes dossiers » (the steps and sections I hold) walks the user's holdings in the
    sort's order: their rows carry the dossier's sort keys (models/follow.py)."""
    return shape.assignee == "holds" and shape.sort in HOLDING_SORTS and not shape.counting


def _holdings_alone(shape: _Shape) -> bool:
    """The filters the holdings answer by themselves: the open dossiers (« À traiter »),
    by démarche and step, and a search term (their copy of the search text)."""
    return (shape.view == "a_traiter" and not shape.after and not shape.siret
            and not any((shape.status, shape.turn, shape.overdue, shape.campaign)))


def _follows_searched(shape: _Shape) -> bool:
    """« Suivis » searched for a term that is not frequent: its matches among the user's
    follows come from their own trigram index (by user and text), each then joined to its
    dossier (the trigram index of every candidature named 3,463 matches for
    « cardiotrack » at 1M, each probing a follow; the user has 275)."""
    return shape.view == "suivis" and shape.search == "text" and not shape.search_frequent


def _follows_alone(shape: _Shape) -> bool:
    """« Suivis » counted from the user's follows alone (index only: they carry the
    dossier's démarche and search text), stopped at the count's limit: no other filter,
    and no rare term (whose few matches the trigram index names, each then probed)."""
    return (shape.view == "suivis" and shape.counting and not shape.after
            and shape.assignee is None and not shape.siret
            and not any((shape.step, shape.status, shape.turn, shape.overdue,
                         shape.campaign))
            and (not shape.search or shape.search_frequent))


def _holdings_only(shape: _Shape, sort_expr: Any) -> Select:
    """The user's holdings (open dossiers) of the visible démarches, by démarche, step and
    term: their own columns."""
    h = DossierHolding
    stmt = select(h.candidature_id.label("id"), sort_expr.label("sort_value")).where(
        h.user_id == bindparam("assignee_id"),
        h.demarche_code.in_(bindparam("demarches", expanding=True)))
    if shape.demarche:
        stmt = stmt.where(h.demarche_code == bindparam("demarche"))
    if shape.step:
        stmt = stmt.where(h.current_step == bindparam("step"))
    if shape.search:
        stmt = stmt.where(h.search_text.like(_pattern(), escape="\\"))
    return stmt


def _after(shape: _Shape, sort_expr: Any, id_expr: Any) -> Any:
    """The rows past the cursor: a row comparison, which the index of the sort answers by
    seeking straight to the cursor (an OR of two comparisons makes it scan from the
    start)."""
    key = tuple_(sort_expr, id_expr)
    cursor = tuple_(bindparam("cursor_value", type_=UTCDateTime()),
                    bindparam("cursor_id", type_=BigInteger()))
    return key < cursor if shape.descending else key > cursor


@functools.lru_cache(maxsize=512)
def _matches(shape: _Shape) -> tuple[Select, Any, Any, bool]:
    """The candidatures of the page's filters (the candidature's own columns, or for
    « Mes dossiers » the user's holdings in order), the sort's column and the id's."""
    descending = shape.descending
    h = DossierHolding
    if shape.assignee == "holds" and shape.counting and _holdings_alone(shape):
        # « Mes dossiers » counted from the user's holdings alone (index only): they are
        # open dossiers and carry their démarche, step and search text (a join to the
        # candidatures was planned as a hash join over every open dossier)
        return _holdings_only(shape, h.queue_since), h.queue_since, h.candidature_id, \
            descending
    if _holdings_walked(shape) and _holdings_alone(replace(shape, after=False)):
        # « Mes dossiers » in « À traiter », by démarche, step or term: the holdings alone
        # in the sort's order, the candidatures read for the page's rows only (each
        # match joined to its candidature made a statement the planner gave a parallel
        # worker: 7 ms to start it, for 311 matches of « care » at 1M)
        sort_expr = getattr(h, HOLDING_SORTS[shape.sort])
        stmt = _holdings_only(shape, sort_expr)
        if shape.after:
            stmt = stmt.where(_after(shape, sort_expr, h.candidature_id))
        return stmt, sort_expr, h.candidature_id, descending
    if _follows_alone(shape):
        f = DossierFollow
        followed: Select = select(f.candidature_id.label("id")).where(
            f.user_id == bindparam("user_id"),
            f.demarche_code.in_(bindparam("demarches", expanding=True)))
        if shape.demarche:
            followed = followed.where(f.demarche_code == bindparam("demarche"))
        if shape.search:
            followed = followed.where(f.search_text.like(_pattern(), escape="\\"))
        return followed, f.candidature_id, f.candidature_id, descending
    if _holdings_walked(shape):
        sort_expr = getattr(DossierHolding, HOLDING_SORTS[shape.sort])
        id_expr: Any = DossierHolding.candidature_id
        stmt = (select(Candidature.id, sort_expr.label("sort_value"))
                .select_from(DossierHolding)
                .join(Candidature, Candidature.id == DossierHolding.candidature_id)
                .where(DossierHolding.user_id == bindparam("assignee_id")))
    else:
        sort_expr, id_expr = _sort_key(shape.sort), Candidature.id
        stmt = select(Candidature.id, sort_expr.label("sort_value"))
    stmt = stmt.where(Candidature.demarche_code.in_(bindparam("demarches", expanding=True)))
    if shape.view == "a_traiter":
        stmt = stmt.where(Candidature.status == IN_PROGRESS)
    elif shape.view == "traites":
        stmt = stmt.where(Candidature.status != IN_PROGRESS)
    elif shape.view == "suivis" and (shape.counting and not shape.search_frequent
                                     or _follows_searched(shape)):
        # counted from the user's follows, in dossier order, each dossier then checked
        # against the filters (the count's LIMIT stops the walk); or a rare term's matches
        # among the user's follows, each joined to its dossier
        stmt = stmt.join(DossierFollow, and_(
            DossierFollow.candidature_id == Candidature.id,
            DossierFollow.user_id == bindparam("user_id")))
    elif shape.view == "suivis" and not shape.counting:
        # the dossiers the user holds or held a step of, or decided one of
        # (models/follow.py): the sort's index walked, one follow probed per row
        stmt = stmt.where(followed_by(bindparam("user_id")))
    stmt = _apply_filters(stmt, shape, bindparam("now", type_=UTCDateTime()))
    if shape.after:
        stmt = stmt.where(_after(shape, sort_expr, id_expr))
    if shape.view == "suivis" and shape.counting and shape.search_frequent:
        # a frequent term among the user's follows, with other filters (« care »: one in
        # twelve): the follows' copy of the search text checked along their index, then
        # each match, in dossier order, probes its dossier (OFFSET 0 keeps the probe from
        # being planned as a join: a hash or merge join read 85,000 matches or 143,000
        # dossiers, 30-88 ms at 1M)
        probe = (stmt.where(Candidature.id == DossierFollow.candidature_id)
                 .offset(0).lateral("followed"))
        stmt = (select(probe.c.id, probe.c.sort_value).select_from(DossierFollow)
                .join(probe, true())
                .where(DossierFollow.user_id == bindparam("user_id"),
                       DossierFollow.search_text.like(_pattern(), escape="\\")))
    return stmt, sort_expr, id_expr, descending


@functools.lru_cache(maxsize=512)
def _statement(shape: _Shape) -> Select:
    """One page: the page's ids first (an ordered walk of the sort's index, or the few
    matches of a search sorted), then what the page shows, joined for those rows only."""
    matches, sort_expr, id_expr, descending = _matches(replace(shape, with_total=False))
    order = ((sort_expr.desc(), id_expr.desc()) if descending
             else (sort_expr.asc(), id_expr.asc()))
    limit = bindparam("limit", type_=Integer(), literal_execute=True)
    counted: Any = None
    if shape.with_total:
        # the first COUNT_LIMIT + 1 matches in the page's order, read once: the page is
        # their first rows, the count is how many there are (« plus de 1 000 » past the
        # limit). A search by the trigram index reads its matches once instead of twice
        # (page, then count); a search walking the sort's index stops where the count
        # would have (docs/benchmarks/queues-1m.md)
        firsts = (matches.order_by(*order)
                  .limit(bindparam("count_limit", type_=Integer(), literal_execute=True))
                  .cte("firsts"))
        page = (select(firsts).order_by(*((firsts.c.sort_value.desc(), firsts.c.id.desc())
                                          if descending else
                                          (firsts.c.sort_value.asc(), firsts.c.id.asc())))
                .limit(limit).subquery("page"))
        counted = select(func.count()).select_from(firsts).scalar_subquery().label("total")
    else:
        page = matches.order_by(*order).limit(limit).subquery("page")
    step = aliased(CandidatureStep)
    assignee = aliased(User)
    read = aliased(MessageRead)
    unread = (select(func.count(Message.id)).where(
        Message.candidature_id == Candidature.id, Message.author_kind == "industriel",
        Message.id > func.coalesce(read.last_read_message_id, 0))
        .correlate(Candidature, read).scalar_subquery())
    total = (select(func.count(SectionReview.id))
             .where(SectionReview.candidature_id == Candidature.id)
             .correlate(Candidature).scalar_subquery())
    validated = (select(func.count(SectionReview.id))
                 .where(SectionReview.candidature_id == Candidature.id,
                        SectionReview.status == "validee")
                 .correlate(Candidature).scalar_subquery())
    now = bindparam("now", type_=UTCDateTime())
    return (
        select(
            Candidature.id, Candidature.reference, Candidature.demarche_code,
            (Product.name + " - " + Product.version + " - " + cast(Product.number, String)
             ).label("product_label"),
            Organisation.name.label("organisation"),
            step.step, step.status.label("step_status"), step.submitted_at,
            Candidature.queue_since.label("waiting_since"),
            step.due_at, (step.paused_at.is_not(None)).label("paused"),
            days_left(step.due_at, now).label("days_left"),
            step.assignee_id, assignee.name.label("assignee_name"),
            Candidature.last_activity_at, unread.label("unread"),
            total.label("sections_total"), validated.label("sections_validated"),
            Candidature.status.label("candidature_status"), Candidature.closed_at,
            page.c.sort_value, *((counted,) if counted is not None else ()),
        )
        .select_from(page)
        .join(Candidature, Candidature.id == page.c.id)
        .join(step, and_(step.candidature_id == Candidature.id,
                         step.step == Candidature.current_step))
        .join(Product, Product.id == Candidature.product_id)
        .join(Organisation, Organisation.id == Candidature.organisation_id)
        .outerjoin(assignee, assignee.id == step.assignee_id)
        .outerjoin(read, and_(read.candidature_id == Candidature.id,
                              read.user_id == bindparam("user_id")))
        .order_by(*((page.c.sort_value.desc(), page.c.id.desc()) if descending
                    else (page.c.sort_value.asc(), page.c.id.asc())))
    )


class SectionsHeld(NamedTuple):
    sections: int
    dossiers: int


def sections_held(user: User) -> SectionsHeld:
    """The sections of the evidence review the user holds (submitted again to them, or
    under their review), and in how many dossiers: the user's entries of
    ix_section_review_holder, index only. « Mes dossiers » lists the steps the user holds
    and points to these (the sections are reviewed from « Mes sections »)."""
    sections, dossiers = db.execute(
        select(func.count(), func.count(SectionReview.candidature_id.distinct()))
        .where(SectionReview.assignee_id == user.id,
               SectionReview.status.in_(SECTION_HELD))).one()
    return SectionsHeld(int(sections), int(dossiers))


def _apply_filters(stmt: Select, shape: _Shape, now: Any) -> Select:
    """Every filter reads the candidature's own columns (its queue fields): the sort's
    index is walked in order and rows are checked on the way."""
    if shape.demarche:
        stmt = stmt.where(Candidature.demarche_code == bindparam("demarche"))
    if shape.step:
        stmt = stmt.where(Candidature.current_step == bindparam("step"))
    if shape.status:
        stmt = stmt.where(Candidature.queue_status == bindparam("status"))
    if shape.assignee == "id":
        stmt = stmt.where(Candidature.queue_assignee_id == bindparam("assignee_id"))
    elif shape.assignee == "holds" and shape.counting:
        # counted from the user's holdings (models/follow.py), each dossier then checked
        stmt = stmt.join(DossierHolding, and_(
            DossierHolding.candidature_id == Candidature.id,
            DossierHolding.user_id == bindparam("assignee_id")))
    elif shape.assignee == "holds" and not _holdings_walked(shape):
        stmt = stmt.where(held_by(bindparam("assignee_id")))
    elif shape.assignee == "personne":
        stmt = stmt.where(Candidature.queue_assignee_id.is_(None))
    if shape.turn == "ans":
        stmt = stmt.where(ans_turn())
    elif shape.turn == "industriel":
        stmt = stmt.where(vendor_turn())
    if shape.overdue:
        stmt = stmt.where(Candidature.queue_due_at < now)
    if shape.campaign:
        stmt = stmt.where(Candidature.campaign_window_id == bindparam("campaign"))
    if shape.siret:
        # the vendor's candidatures, through the candidature's organisation index
        stmt = stmt.where(Candidature.organisation_id == select(Organisation.id).where(
            Organisation.siret == bindparam("siret")).scalar_subquery())
    if shape.search and _holdings_walked(shape):
        # « Mes dossiers »: the holdings' copy, checked along their index
        return stmt.where(DossierHolding.search_text.like(_pattern(), escape="\\"))
    if shape.search:
        # the trigram index of the open candidatures (or of the user's follows) names the
        # matches when they are few; when they are many, the sort's index is walked and
        # each row checked
        column = (DossierFollow.search_text if _follows_searched(shape)
                  else Candidature.search_text)
        pattern = _pattern()
        if not shape.search_parts:
            return stmt.where(column.like(pattern, escape="\\"))
        # a rare term: the index is asked for the parts that hold its rarest trigrams,
        # and each candidate is checked against the whole term, which coalesce() keeps
        # from the index
        for i in range(shape.search_parts):
            stmt = stmt.where(column.like(
                bindparam(f"part_{i}", type_=String(), literal_execute=True)))
        stmt = stmt.where(func.coalesce(column, literal_column("''")).like(
            pattern, escape="\\"))
    return stmt


def _pattern() -> Any:
    """The search's LIKE pattern, written into the SQL (quoted by SQLAlchemy): each term
    gets its own plan, from the term's own frequency, never a plan made for another one."""
    return bindparam("pattern", type_=String(), literal_execute=True)


def siret_of(q: str | None) -> str | None:
    """The SIRET a search names (14 digits, spaces allowed), or None."""
    digits = (q or "").replace(" ", "")
    return digits if len(digits) == SIRET_LENGTH and digits.isdigit() else None


def find_exact(user: User, q: str | None, *, session: Session | None = None) -> str | None:
    """The reference of the one dossier a search names exactly, among the démarches the
    user sees: its reference, certificate number or référencement number (unique
    indexes: one query, only for a term that looks like one), or None."""
    term = (q or "").strip().upper()
    if not term or siret_of(term):
        return None
    demarches = visible_demarches(user)
    if len(term) == 9 and term.isalpha():
        stmt = select(Candidature.reference).where(Candidature.reference == term)
    elif any(c.isdigit() for c in term):
        stmt = (select(Candidature.reference)
                .join(Certificat, Certificat.candidature_id == Candidature.id)
                .where(or_(Certificat.number == term,
                           Certificat.numero_referencement == term)))
    else:
        return None
    stmt = stmt.where(Candidature.demarche_code.in_(demarches)).limit(1)
    return (session or db).scalar(stmt)


def search_pattern(q: str) -> str:
    """LIKE pattern of a search, lowered as the search text is (models: search_text)."""
    return _like(q.lower())


def encode_cursor(value: datetime, row_id: int) -> str:
    raw = json.dumps([value.astimezone(UTC).isoformat(), row_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(value), int(row_id)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidCursor(cursor) from exc


def page(user: User, filters: Filters, *, after: str | None = None,
         limit: int = PAGE_SIZE, now: datetime,
         session: Session | None = None) -> tuple[list[Row], str | None]:
    """One page of the queue, ordered by the chosen sort then id (keyset: no OFFSET, no
    COUNT). Returns the rows and the cursor of the next page."""
    shape, params = _shape_and_params(user, filters, now, after, session)
    result = (session or db).execute(_statement(shape), {**params, "limit": limit + 1}).all()
    if result and isinstance(result[0].paused, bool):
        # PostgreSQL: the columns come in Row's order, typed (dates aware, UTCDateTime):
        # built as they are (a CSV export builds 100,000 of them)
        rows = [Row(*r[:ROW_FIELDS]) for r in result[:limit]]
    else:
        rows = [_row(r) for r in result[:limit]]
    next_cursor = None
    if len(result) > limit:
        last = result[limit - 1]
        next_cursor = encode_cursor(_as_utc(last.sort_value), last.id)
    return rows, next_cursor


ROW_FIELDS = len(fields(Row))


def page_and_count(user: User, filters: Filters, *, count_limit: int,
                   after: str | None = None, limit: int = PAGE_SIZE,
                   now: datetime) -> tuple[list[Row], str | None, int]:
    """One page and how many rows the filtered queue has, counted up to `count_limit`
    (a count past it: « more than count_limit - 1 »). The first page of a text search
    reads both in one statement (its matches read once); other pages take page() and
    count()."""
    shape, params = _shape_and_params(user, filters, now, after)
    if shape.search != "text" or shape.after or (shape.view == "suivis"
                                                  and shape.search_frequent):
        # « Suivis » and a frequent term: the page walks the sort's index, the count the
        # user's follows (one statement walked the index for both: 75 ms at 1M)
        rows, next_cursor = page(user, filters, after=after, limit=limit, now=now)
        return rows, next_cursor, count(user, filters, now=now, limit=count_limit)
    result = db.execute(_statement(replace(shape, with_total=True)),
                        {**params, "limit": limit + 1,
                         "count_limit": max(count_limit, limit + 1)}).all()
    rows = [_row(r) for r in result[:limit]]
    next_cursor = None
    if len(result) > limit:
        last = result[limit - 1]
        next_cursor = encode_cursor(_as_utc(last.sort_value), last.id)
    return rows, next_cursor, min(int(result[0].total), count_limit) if result else 0


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite returns COALESCE()s of dates as text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _row(r: Any) -> Row:
    def dt(value: Any) -> datetime | None:
        return None if value is None else _as_utc(value)

    return Row(
        id=r.id, reference=r.reference, demarche_code=r.demarche_code,
        product_label=r.product_label, organisation=r.organisation, step=r.step,
        step_status=r.step_status, submitted_at=dt(r.submitted_at),
        waiting_since=dt(r.waiting_since), due_at=dt(r.due_at), paused=bool(r.paused),
        days_left=r.days_left, assignee_id=r.assignee_id, assignee_name=r.assignee_name,
        last_activity_at=_as_utc(r.last_activity_at), unread=r.unread or 0,
        sections_total=r.sections_total or 0, sections_validated=r.sections_validated or 0,
        candidature_status=r.candidature_status, closed_at=dt(r.closed_at),
    )


def count(user: User, filters: Filters, *, now: datetime, limit: int | None = None,
          session: Session | None = None) -> int:
    """How many rows the filtered queue has; with `limit`, at most that many are counted
    (the rows examined stay bounded by it: "more than the limit" is all a caller needs)."""
    stmt, _, _ = base_query(user, filters, now, counting=True)
    if limit is not None:
        stmt = stmt.limit(limit)
    return (session or db).scalar(select(func.count()).select_from(stmt.subquery())) or 0


def stream(user: User, filters: Filters, *, now: datetime, batch: int = 1000):
    """Every row of the filtered queue, page by page (for the CSV export). The next page
    is read while this one is written out: by a thread of its own, on a session of its
    own (the database works while Python formats; docs/benchmarks.md)."""
    options = current_app.extensions["db_session_options"]
    with Session(**options) as session, ThreadPoolExecutor(1) as reader:
        def read(cursor: str | None) -> tuple[list[Row], str | None]:
            return page(user, filters, after=cursor, limit=batch, now=now, session=session)

        pending = reader.submit(read, None)
        while True:
            rows, cursor = pending.result()
            if cursor is not None:
                pending = reader.submit(read, cursor)
            yield from rows
            if cursor is None:
                return


__all__ = ["Filters", "Row", "count", "page", "stream"]
