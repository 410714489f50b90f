"""Evidence review: a candidature's sections (snapshot of its référentiel at
recevabilité), their exigences, and the verdicts of each round."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base, utcnow
from backoffice.models._types import one_of
from backoffice.workflow.definitions import SECTION_STATUSES

VERDICTS = ("conforme", "non_conforme", "non_applicable")
# a section waiting for its reviewer or under review: held by its assignee
SECTION_HELD = ("soumise", "en_revue")


class SectionReview(Base):
    __tablename__ = "section_review"
    __table_args__ = (
        UniqueConstraint("candidature_id", "code"),
        one_of("status", SECTION_STATUSES, "status"),
        CheckConstraint("round >= 1", name="round_positive"),
        CheckConstraint("status <> 'en_revue' OR assignee_id IS NOT NULL", name="held"),
        CheckConstraint("status <> 'validee' OR decided_at IS NOT NULL", name="decided"),
        # the section queue: what waits for a review, oldest first, walked in order
        Index("ix_section_review_queue", "submitted_at", "id",
              postgresql_where=text("status IN ('soumise', 'en_revue')"),
              sqlite_where=text("status IN ('soumise', 'en_revue')")),
        # the sections a vérificateur holds: counted beside « Mes dossiers »
        Index("ix_section_review_holder", "assignee_id", "candidature_id",
              postgresql_where=text(f"status IN {SECTION_HELD!r}"),
              sqlite_where=text(f"status IN {SECTION_HELD!r}")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(32), default="a_completer")
    round: Mapped[int] = mapped_column(default=1)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    exigences: Mapped[list[CandidatureExigence]] = relationship(
        back_populates="section", order_by="CandidatureExigence.position",
        cascade="all, delete-orphan",
    )


class CandidatureExigence(Base):
    """An exigence as it stood when the candidature was found recevable."""

    __tablename__ = "candidature_exigence"
    __table_args__ = (UniqueConstraint("section_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    section_id: Mapped[int] = mapped_column(
        ForeignKey("section_review.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    statement: Mapped[str] = mapped_column(Text, default="")
    expected_preuves: Mapped[list[Any]] = mapped_column(default=list)
    position: Mapped[int] = mapped_column(default=0)
    # The vendor's justified déclaration sur l'honneur that the exigence does not apply.
    declaration_non_applicable: Mapped[str | None] = mapped_column(Text)

    section: Mapped[SectionReview] = relationship(back_populates="exigences")
    verdicts: Mapped[list[ExigenceVerdict]] = relationship(
        back_populates="exigence", order_by="ExigenceVerdict.round",
        cascade="all, delete-orphan",
    )


class ExigenceVerdict(Base):
    __tablename__ = "exigence_verdict"
    __table_args__ = (
        UniqueConstraint("exigence_id", "round"),
        one_of("verdict", VERDICTS, "verdict"),
        CheckConstraint(
            "verdict <> 'non_conforme' OR (comment IS NOT NULL AND comment <> '')",
            name="non_conforme_has_comment",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exigence_id: Mapped[int] = mapped_column(
        ForeignKey("candidature_exigence.id", ondelete="CASCADE")
    )
    round: Mapped[int]
    verdict: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    exigence: Mapped[CandidatureExigence] = relationship(back_populates="verdicts")


def _listen_holdings() -> None:
    from backoffice.models import follow
    from backoffice.models.candidature import Candidature

    # « Mes dossiers »: who holds each open dossier's step or one of its sections
    follow.listen_holdings(Candidature, SectionReview)


_listen_holdings()
