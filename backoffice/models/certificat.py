"""Certificates of conformity (DMN) and attestations de référencement (SONS SAS)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base, utcnow
from backoffice.models._types import one_of
from backoffice.models.files import Fichier

STATUSES = ("valide", "suspendu", "retire")


class Certificat(Base):
    __tablename__ = "certificat"
    __table_args__ = (
        one_of("kind", ["certificat", "referencement"], "kind"),
        one_of("status", STATUSES, "status"),
        CheckConstraint("status = 'valide' OR status_motive IS NOT NULL", name="motive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Issued exactly once per candidature: the database says so.
    candidature_id: Mapped[int] = mapped_column(ForeignKey("candidature.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(40), unique=True)
    numero_referencement: Mapped[str | None] = mapped_column(String(40), unique=True)
    fichier_id: Mapped[int | None] = mapped_column(ForeignKey("fichier.id"))
    fichier: Mapped[Fichier | None] = relationship()
    sha256: Mapped[str | None] = mapped_column(String(64))
    product_label: Mapped[str] = mapped_column(String(300))
    organisation_name: Mapped[str] = mapped_column(String(200))
    referentiel_label: Mapped[str] = mapped_column(String(300))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_check_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="valide")
    status_motive: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None]
