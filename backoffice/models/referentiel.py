"""Référentiels as data: versions, sections, exigences and the profils that select them.
The official lists replace the demo ones by import, never by a code change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base, utcnow
from backoffice.models._types import one_of


class Referentiel(Base):
    __tablename__ = "referentiel"
    __table_args__ = (
        UniqueConstraint("code", "version"),
        one_of("code", ["dmn", "sons_sas"], "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(300))
    # The version new candidatures get at recevabilité.
    current: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    sections: Mapped[list[ReferentielSection]] = relationship(
        back_populates="referentiel", order_by="ReferentielSection.position",
        cascade="all, delete-orphan",
    )
    profils: Mapped[list[Profil]] = relationship(
        back_populates="referentiel", order_by="Profil.code", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return f"{self.label} ({self.version})"


class Profil(Base):
    __tablename__ = "profil"
    __table_args__ = (UniqueConstraint("referentiel_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referentiel_id: Mapped[int] = mapped_column(ForeignKey("referentiel.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(300))
    # Section codes this profil brings into the candidature.
    sections: Mapped[list[str]] = mapped_column(default=list)

    referentiel: Mapped[Referentiel] = relationship(back_populates="profils")


class ReferentielSection(Base):
    __tablename__ = "referentiel_section"
    __table_args__ = (UniqueConstraint("referentiel_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referentiel_id: Mapped[int] = mapped_column(ForeignKey("referentiel.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(default=0)

    referentiel: Mapped[Referentiel] = relationship(back_populates="sections")
    exigences: Mapped[list[ReferentielExigence]] = relationship(
        back_populates="section", order_by="ReferentielExigence.position",
        cascade="all, delete-orphan",
    )


class ReferentielExigence(Base):
    __tablename__ = "referentiel_exigence"
    __table_args__ = (UniqueConstraint("section_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    section_id: Mapped[int] = mapped_column(
        ForeignKey("referentiel_section.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    statement: Mapped[str] = mapped_column(Text, default="")
    # [{"code": "INS 1.1.1", "label": "...", "type": "demonstration"}, ...]
    expected_preuves: Mapped[list[Any]] = mapped_column(default=list)
    criticite: Mapped[str | None] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(default=0)

    section: Mapped[ReferentielSection] = relationship(back_populates="exigences")


class PieceType(Base):
    """A pièce justificative a démarche's form step asks for (design.md, Reference data)."""

    __tablename__ = "piece_type"
    __table_args__ = (UniqueConstraint("parcours", "step", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parcours: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(300))
    required: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)


class DelayRule(Base):
    """How long ANS has to instruct a step, set by an admin per démarche and step."""

    __tablename__ = "delay_rule"
    __table_args__ = (UniqueConstraint("demarche_code", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demarche_code: Mapped[str] = mapped_column(ForeignKey("demarche.code"))
    step: Mapped[str] = mapped_column(String(32))
    days: Mapped[int]
    working_days: Mapped[bool] = mapped_column(default=False)
    legal_basis: Mapped[str | None] = mapped_column(String(300))
