"""The section queue: sections submitted and waiting for review, across the candidatures
of the user's teams; keyset pages like the candidature queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, literal, select, tuple_
from sqlalchemy.orm import aliased

from backoffice import safetext
from backoffice.db import UTCDateTime, db
from backoffice.models import Candidature, Organisation, Product, SectionReview, User
from backoffice.queues.candidatures import (
    IN_PROGRESS,
    PAGE_SIZE,
    _as_utc,
    decode_cursor,
    encode_cursor,
    visible_demarches,
)


@dataclass
class SectionFilters:
    demarche: str | None = None
    section: str | None = None
    round: int | None = None
    assignee: str | None = None
    status: str | None = None

    @classmethod
    def from_args(cls, args: Any) -> SectionFilters:
        def text(name: str) -> str | None:
            return safetext.searchable(args.get(name) or "").strip() or None

        tour = text("tour")
        return cls(demarche=text("demarche"), section=text("section"),
                   round=int(tour) if tour and tour.isdigit() else None,
                   assignee=text("attribution"), status=text("statut"))

    def as_args(self) -> dict[str, str]:
        args = {"demarche": self.demarche, "section": self.section,
                "tour": str(self.round) if self.round else None,
                "attribution": self.assignee, "statut": self.status}
        return {k: v for k, v in args.items() if v}


@dataclass(frozen=True)
class SectionRow:
    reference: str
    demarche_code: str
    product_label: str
    organisation: str
    code: str
    title: str
    status: str
    round: int
    assignee_name: str | None
    submitted_at: datetime | None


def page(user: User, f: SectionFilters, *, after: str | None = None, limit: int = PAGE_SIZE):
    assignee = aliased(User)
    waiting = SectionReview.submitted_at
    stmt = (
        select(Candidature.reference, Candidature.demarche_code,
               (Product.name + " - " + Product.version + " - " + cast(Product.number, String))
               .label("product_label"), Organisation.name.label("organisation"),
               SectionReview.id, SectionReview.code, SectionReview.title, SectionReview.status,
               SectionReview.round, assignee.name.label("assignee_name"), waiting)
        .join(Candidature, Candidature.id == SectionReview.candidature_id)
        .join(Product, Product.id == Candidature.product_id)
        .join(Organisation, Organisation.id == Candidature.organisation_id)
        .outerjoin(assignee, assignee.id == SectionReview.assignee_id)
        .where(Candidature.status == IN_PROGRESS,
               Candidature.demarche_code.in_(visible_demarches(user)),
               # in the SQL, as the partial index's predicate (see IN_PROGRESS)
               SectionReview.status.in_(bindparam("waiting", ["soumise", "en_revue"],
                                                  expanding=True, literal_execute=True)))
    )
    if f.demarche:
        stmt = stmt.where(Candidature.demarche_code == f.demarche)
    if f.section:
        stmt = stmt.where(SectionReview.code == f.section)
    if f.round:
        stmt = stmt.where(SectionReview.round == f.round)
    if f.status in ("soumise", "en_revue"):
        stmt = stmt.where(SectionReview.status == f.status)
    if f.assignee == "moi":
        stmt = stmt.where(SectionReview.assignee_id == user.id)
    elif f.assignee == "personne":
        stmt = stmt.where(SectionReview.assignee_id.is_(None))
    if after:
        value, row_id = decode_cursor(after)
        param = literal(value, UTCDateTime())
        stmt = stmt.where(tuple_(waiting, SectionReview.id) > tuple_(param, literal(row_id)))
    rows = db.execute(stmt.order_by(waiting, SectionReview.id).limit(
        literal(limit + 1, literal_execute=True))).all()
    items = [SectionRow(r.reference, r.demarche_code, r.product_label, r.organisation, r.code,
                        r.title, r.status, r.round, r.assignee_name,
                        _as_utc(r.submitted_at) if r.submitted_at else None)
             for r in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        cursor = encode_cursor(_as_utc(last.submitted_at), last.id)
    return items, cursor
