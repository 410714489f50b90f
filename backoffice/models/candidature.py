"""Candidatures and their steps."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from backoffice.db import Base, utcnow
from backoffice.domain import UnknownStep
from backoffice.models import follow, queue_count
from backoffice.models._types import one_of
from backoffice.models.demarche import CampaignWindow, Demarche
from backoffice.models.organisation import Organisation, Product
from backoffice.models.user import User
from backoffice.workflow.definitions import (
    ALL_STEP_STATUSES,
    DECIDED_STATUSES,
    STATUSES,
    STEPS,
    CandidatureStatus,
    SectionStatus,
    Turn,
    status_label,
    step_label,
    turn_of,
)

REFERENCE_ALPHABET = string.ascii_uppercase
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def new_reference() -> str:
    """Nine random upper-case letters, like the guide's JYHQCKYQJ (26^9 ≈ 5.4e12)."""
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(9))


# what the queues' walks check besides their sort (PostgreSQL: INCLUDE columns)
WALK_INCLUDES = ["demarche_code", "search_text"]


class Candidature(Base):
    __tablename__ = "candidature"
    __table_args__ = (
        UniqueConstraint("reference"),
        CheckConstraint(
            "length(reference) = 9 AND upper(reference) = reference", name="reference_format"
        ),
        one_of("status", [s.value for s in CandidatureStatus], "status"),
        one_of("current_step", list(STEPS), "current_step"),
        # A candidature that ended carries the date it ended.
        CheckConstraint("status = 'en_cours' OR closed_at IS NOT NULL", name="closed_has_date"),
        # The queues walk these in order and stop after a page (docs/benchmarks.md):
        # one partial index per sort, over the candidatures in progress only. Each
        # carries the démarche (every queue filters on it) and the search text: a walk
        # that checks them (a frequent search term) reads the index alone (0030).
        Index("ix_candidature_queue_attente", "queue_since", "id",
              postgresql_where=text("status = 'en_cours'"),
              postgresql_include=WALK_INCLUDES,
              sqlite_where=text("status = 'en_cours'")),
        Index("ix_candidature_queue_echeance", "queue_due_at", "id",
              postgresql_where=text("status = 'en_cours'"),
              postgresql_include=WALK_INCLUDES,
              sqlite_where=text("status = 'en_cours'")),
        Index("ix_candidature_queue_activite", "last_activity_at", "id",
              postgresql_where=text("status = 'en_cours'"),
              postgresql_include=WALK_INCLUDES,
              sqlite_where=text("status = 'en_cours'")),
        # the home page's counts, read from this index alone
        Index("ix_candidature_overview", "demarche_code", "current_step", "queue_turn",
              "queue_assignee_id", "queue_due_at",
              postgresql_where=text("status = 'en_cours'"),
              sqlite_where=text("status = 'en_cours'")),
        # the queue's search (reference, product, vendor): trigrams of the open ones
        Index("ix_candidature_search_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"},
              postgresql_where=text("status = 'en_cours'"),
              sqlite_where=text("status = 'en_cours'")),
        Index("ix_candidature_queue_assignee", "queue_assignee_id",
              postgresql_where=text("status = 'en_cours'"),
              sqlite_where=text("status = 'en_cours'")),
        # the « Traités » view: the ended candidatures, latest closed first
        Index("ix_candidature_closed", "closed_at", "id",
              postgresql_where=text("status <> 'en_cours'"),
              postgresql_include=WALK_INCLUDES,
              sqlite_where=text("status <> 'en_cours'")),
        # the queue's campaign filter: the campaign's rows in progress in the default order
        # (waiting time), and by campaign and status for the other views and sorts (a
        # campaign with few candidatures left is read from here instead of walking the
        # sort's index); the latter is also the foreign key's index
        Index("ix_candidature_campaign_attente", "campaign_window_id", "queue_since", "id",
              postgresql_where=text("status = 'en_cours'"),
              postgresql_include=WALK_INCLUDES,
              sqlite_where=text("status = 'en_cours'")),
        Index("ix_candidature_campaign", "campaign_window_id", "status"),
        # the home page's « mes dossiers »: the user's dossiers in progress by démarche and
        # step, read from this index alone (ix_candidature_overview has the assignee in
        # fourth place: every entry of the démarches was read)
        Index("ix_candidature_mine", "queue_assignee_id", "demarche_code", "current_step",
              postgresql_where=text("status = 'en_cours'"),
              sqlite_where=text("status = 'en_cours'")),
        # the « Tous » and « Suivis » views: every candidature by last activity
        Index("ix_candidature_activite_all", "last_activity_at", "id",
              postgresql_include=WALK_INCLUDES),
        # the search across open and ended candidatures (the views other than « À traiter »)
        Index("ix_candidature_search_all_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(9), default=new_reference)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    # active_history: the counts of models/queue_count.py need the value a change replaces
    demarche_code: Mapped[str] = mapped_column(ForeignKey("demarche.code"), active_history=True)
    campaign_window_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_window.id"))
    current_step: Mapped[str] = mapped_column(String(32), active_history=True)
    status: Mapped[str] = mapped_column(String(32), default=CandidatureStatus.en_cours.value,
                                        active_history=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    submitted_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    closed_at: Mapped[datetime | None]
    # Fixed at recevabilité: later edits of the référentiel do not change it.
    referentiel_id: Mapped[int | None] = mapped_column(ForeignKey("referentiel.id"))
    profils: Mapped[list[str]] = mapped_column(default=list)
    # From the vendor's form: who gets the e-mails, if they agreed to receive them.
    contact_email: Mapped[str | None] = mapped_column(String(254))
    email_opt_in: Mapped[bool] = mapped_column(default=False)
    # Optimistic lock: two actors saving the same candidature cannot both win.
    version: Mapped[int] = mapped_column(default=1)
    # The queue's view of the current step, copied here at every flush that changes the
    # candidature or one of its steps (sync_queue), so that a queue page is one ordered
    # walk of one partial index instead of a sort of every candidature in progress.
    queue_since: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    queue_status: Mapped[str | None] = mapped_column(String(32))
    queue_assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"),
                                                          active_history=True)
    # the due date, or the far future when there is none (paused, no delay): sortable
    queue_due_at: Mapped[datetime] = mapped_column(default=lambda: FAR_FUTURE, active_history=True)
    # whose turn it is: "ans" (to instruct), "industriel" (to answer), None (closed)
    queue_turn: Mapped[str | None] = mapped_column(String(16), active_history=True)
    # What the queue's search reads: reference, product and vendor names, lower case
    # (search_text()); kept by the before_flush hook, for a product or vendor renamed too.
    search_text: Mapped[str | None] = mapped_column(Text)

    organisation: Mapped[Organisation] = relationship()
    product: Mapped[Product] = relationship()
    demarche: Mapped[Demarche] = relationship()
    campaign_window: Mapped[CampaignWindow | None] = relationship()
    steps: Mapped[list[CandidatureStep]] = relationship(
        back_populates="candidature",
        order_by="CandidatureStep.position",
        cascade="all, delete-orphan",
    )

    __mapper_args__ = {"version_id_col": version}

    def step(self, code: str) -> CandidatureStep:
        for step in self.steps:
            if step.step == code:
                return step
        raise UnknownStep(self.reference, code)

    @property
    def current(self) -> CandidatureStep:
        return self.step(self.current_step)

    def sync_queue(self, sections_waiting: bool = False) -> None:
        """Copy the current step's queue fields (only what changed: no needless UPDATE).
        `sections_waiting`: a section of the evidence review waits on ANS."""
        step = next((s for s in self.steps if s.step == self.current_step), None)
        values = {
            # an unknown code is left to the CHECK constraint, which refuses the row
            "queue_turn": turn_of(step.status, sections_waiting)
            if step and step.status in STATUSES else None,
            "queue_since": (step and (step.submitted_at or step.opened_at))
            or self.created_at or utcnow(),
            "queue_status": step.status if step else None,
            "queue_assignee_id": step.current_assignee_id() if step else None,
            "queue_due_at": (step.due_at if step and step.due_at else FAR_FUTURE),
        }
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    def __str__(self) -> str:
        return self.reference


_decided = ", ".join(f"'{s}'" for s in DECIDED_STATUSES)


class CandidatureStep(Base):
    __tablename__ = "candidature_step"
    __table_args__ = (
        UniqueConstraint("candidature_id", "step"),
        one_of("step", list(STEPS), "step"),
        one_of("status", ALL_STEP_STATUSES, "status"),
        CheckConstraint(f"status NOT IN ({_decided}) OR decided_at IS NOT NULL", name="decided"),
        CheckConstraint("status <> 'en_instruction' OR assignee_id IS NOT NULL", name="held"),
        # The queues: what waits in a step, oldest first.
        Index("ix_candidature_step_queue", "step", "status", "submitted_at"),
        Index("ix_candidature_step_assignee", "assignee_id", "status"),
        # « Suivis »: the dossiers whose steps a vérificateur decided
        Index("ix_candidature_step_decided_by", "decided_by_id"),
        CheckConstraint("paused_at IS NULL OR due_at IS NULL", name="paused_has_no_due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE")
    )
    step: Mapped[str] = mapped_column(String(32))
    position: Mapped[int]
    status: Mapped[str] = mapped_column(String(32), default="a_venir")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    informative: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    # While the vendor has the file (compléments, modifications), the clock stops:
    # due_at is cleared and what was left is kept here.
    paused_at: Mapped[datetime | None]
    remaining_days: Mapped[float | None]
    # When the vendor last answered a pause (compléments reçus, modifications reçues):
    # the clock went on from there with what was left (workflow/delays.py, resume_clock).
    resumed_at: Mapped[datetime | None]
    # Statistics (workflow/delays.py): the days the vendor had the file (calendar, summed
    # over the pauses), and at the decision, the days the clock ran (in the rule's unit,
    # pauses excluded, as the law counts them) and whether that was within the delay.
    paused_days: Mapped[float] = mapped_column(default=0.0, server_default="0")
    lead_days: Mapped[float | None]
    within_delay: Mapped[bool | None]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    candidature: Mapped[Candidature] = relationship(back_populates="steps")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    def current_assignee_id(self) -> int | None:
        """The assignee's id, also before a flush when the relationship was just set."""
        if "assignee" in self.__dict__:  # set or loaded: it wins over a stale column
            return self.assignee.id if self.assignee is not None else None
        return self.assignee_id

    @property
    def label(self) -> str:
        return step_label(self.step)

    @property
    def status_label(self) -> str:
        return status_label(self.status)


# Whose turn each status is: read from the one table of statuses (workflow.definitions).
ANS_TURN = tuple(s for s in ALL_STEP_STATUSES if STATUSES[s].turn == Turn.ans)
VENDOR_TURN = tuple(s for s in ALL_STEP_STATUSES if STATUSES[s].turn == Turn.industriel)
SECTIONS_WAITING_ON_ANS = tuple(s.value for s in SectionStatus if STATUSES[s].turn == Turn.ans)


@event.listens_for(Session, "before_flush")
def _sync_queues(session: Session, _context: object, _instances: object) -> None:
    """Keep every candidature's queue fields equal to its current step's (and its
    sections', for whose turn it is), whatever code path changed them (tested against
    the workflow's every transition)."""
    from backoffice.models.instruction import SectionReview

    touched: dict[int, Candidature] = {}
    changed_sections: dict[int, list[SectionReview]] = {}
    for obj in (*session.new, *session.dirty):
        candidature = obj if isinstance(obj, Candidature) else \
            obj.candidature if isinstance(obj, CandidatureStep) else None
        if isinstance(obj, SectionReview) and obj.candidature_id is not None:
            changed_sections.setdefault(obj.candidature_id, []).append(obj)
            candidature = session.get(Candidature, obj.candidature_id)
        if candidature is not None:
            touched[id(candidature)] = candidature
    for candidature in touched.values():
        waiting = False
        if candidature.current_step == "preuves" or candidature.id in changed_sections:
            # the sections as this transaction left them (identity map first)
            sections = {s.id: s for s in session.scalars(
                select(SectionReview).where(SectionReview.candidature_id == candidature.id))}
            sections.update({id(s): s for s in changed_sections.get(candidature.id, [])
                             if s.id is None})
            waiting = any(s.status in SECTIONS_WAITING_ON_ANS for s in sections.values())
        candidature.sync_queue(sections_waiting=waiting)
    _sync_search_text(session, touched.values())
    if not session.info.get("queues_changed") and _moves_in_queues(session, touched.values()):
        session.info["queues_changed"] = True  # queues/cache.py: counts recomputed


def search_text(reference: str, product_name: str, organisation_name: str) -> str:
    """What the queue's search looks into, in lower case (Python's: SQLite's lower() and
    LIKE know ASCII letters only, so the pattern is lowered the same way)."""
    return f"{reference} {product_name} {organisation_name}".lower()


def _sync_search_text(session: Session, candidatures: Iterable[Candidature]) -> None:
    """The search text of new candidatures, of those given another product or vendor,
    and of every candidature of a product or vendor renamed (admin)."""
    with session.no_autoflush:
        for candidature in candidatures:
            state = inspect(candidature)
            if candidature.search_text is not None and not any(
                    state.attrs[name].history.has_changes() for name in (
                        "reference", "product", "product_id", "organisation",
                        "organisation_id")):
                continue
            if candidature.reference is None:  # its column default, drawn now
                candidature.reference = new_reference()
            product = candidature.product or session.get(Product, candidature.product_id)
            vendor = (candidature.organisation
                      or session.get(Organisation, candidature.organisation_id))
            if product is not None and vendor is not None:
                text_ = search_text(candidature.reference, product.name, vendor.name)
                if candidature.search_text != text_:
                    candidature.search_text = text_
    renamed = [obj for obj in session.dirty if isinstance(obj, (Product, Organisation))
               and instance_state(obj).attrs["name"].history.has_changes()]
    for obj in renamed:
        column = (Candidature.product_id if isinstance(obj, Product)
                  else Candidature.organisation_id)
        rows = session.connection().execute(
            select(Candidature.id, Candidature.reference, Product.name, Organisation.name)
            .join(Product, Product.id == Candidature.product_id)
            .join(Organisation, Organisation.id == Candidature.organisation_id)
            .where(column == obj.id)).all()
        names = {"product": obj.name} if isinstance(obj, Product) else {"vendor": obj.name}
        texts = {id_: search_text(reference, names.get("product", product),
                                  names.get("vendor", vendor))
                 for id_, reference, product, vendor in rows}
        if texts:
            table = cast(Table, Candidature.__table__)  # a mapped class's Table (typed FromClause)
            session.connection().execute(
                update(table).where(table.c.id == bindparam("row_id"))
                .values(search_text=bindparam("text_")),
                [{"row_id": id_, "text_": t} for id_, t in texts.items()])
            follow.texts_changed(session, list(texts))  # their follows' and holdings' copies
        mapper = inspect(Candidature)
        for id_, t in texts.items():  # the copies this session holds say the same
            held = session.identity_map.get(mapper.identity_key_from_primary_key((id_,)))
            if held is not None:
                set_committed_value(held, "search_text", t)


QUEUE_COUNTED = ("status", "demarche_code", "current_step", "queue_turn", "queue_assignee_id",
                 "queue_due_at")


def _moves_in_queues(session: Session, candidatures: Iterable[Candidature]) -> bool:
    """A candidature added, removed, or moved in what the queues count."""
    if any(isinstance(obj, Candidature) for obj in session.deleted):
        return True
    for candidature in candidatures:
        state = inspect(candidature)
        if state.transient or state.pending or any(
                state.attrs[name].history.has_changes() for name in QUEUE_COUNTED):
            return True
    return False


queue_count.listen(Candidature)  # the home page's counts follow every row written
follow.listen(CandidatureStep)  # « Suivis »: who holds or decided a step of each dossier
