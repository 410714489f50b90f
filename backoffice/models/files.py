"""Uploaded files and what they are for: pièces justificatives, preuves, the ligne
générique's zip, message attachments. Bytes live in the file store; rows keep the
metadata. An archived file stays visible as archived."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base, utcnow
from backoffice.models._types import BigIntPK, one_of

# Antivirus state of an upload. "sans_objet": no ClamAV daemon configured; "en_attente":
# queued for scanning, cannot be opened; "sain" / "infecte" (quarantined) / "erreur"
# (the scanner failed; retried, cannot be opened meanwhile).
SCAN_STATUSES = ("sans_objet", "en_attente", "sain", "infecte", "erreur")
OPENABLE_SCAN_STATUSES = frozenset({"sans_objet", "sain"})


class Fichier(Base):
    __tablename__ = "fichier"
    __table_args__ = (one_of("scan_status", SCAN_STATUSES, "scan_status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), index=True
    )
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigIntPK)
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    # "industriel" (through the API) or a back-office user
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Tombstone: support deleted the bytes; the row says what, who, when and why.
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    deletion_motive: Mapped[str | None] = mapped_column(Text)
    deletion_request: Mapped[str | None] = mapped_column(String(100))
    scan_status: Mapped[str] = mapped_column(String(16), default="sans_objet",
                                             server_default="sans_objet")
    # the signature ClamAV reported, or the scanner's error
    scan_detail: Mapped[str | None] = mapped_column(String(255))
    scanned_at: Mapped[datetime | None]

    @property
    def openable(self) -> bool:
        return self.deleted_at is None and self.scan_status in OPENABLE_SCAN_STATUSES


class Piece(Base):
    __tablename__ = "piece"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[str] = mapped_column(String(32))
    type_code: Mapped[str] = mapped_column(String(64))
    fichier_id: Mapped[int] = mapped_column(ForeignKey("fichier.id"))
    archived_at: Mapped[datetime | None]

    fichier: Mapped[Fichier] = relationship()


class Preuve(Base):
    __tablename__ = "preuve"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), index=True
    )
    exigence_id: Mapped[int] = mapped_column(
        ForeignKey("candidature_exigence.id", ondelete="CASCADE"), index=True
    )
    fichier_id: Mapped[int] = mapped_column(ForeignKey("fichier.id"))
    round_added: Mapped[int]
    archived_at: Mapped[datetime | None]
    archived_round: Mapped[int | None]

    fichier: Mapped[Fichier] = relationship()


class ZipPourAvis(Base):
    """One upload of the ligne générique's evidence zip; a later one supersedes it."""

    __tablename__ = "zip_pour_avis"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), index=True
    )
    fichier_id: Mapped[int] = mapped_column(ForeignKey("fichier.id"))
    # inspect_zip's report: entries (name, size), nested archives
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    superseded_at: Mapped[datetime | None]

    fichier: Mapped[Fichier] = relationship()


class Avis(Base):
    """The vérificateur's avis informatif on a ligne générique zip: per exigence, or
    overall when exigence_code is NULL."""

    __tablename__ = "avis"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidature_id: Mapped[int] = mapped_column(
        ForeignKey("candidature.id", ondelete="CASCADE"), index=True
    )
    zip_id: Mapped[int] = mapped_column(ForeignKey("zip_pour_avis.id"))
    exigence_code: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
