"""Vendors (organisations), their API tokens and their products."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base, utcnow
from backoffice.models._types import one_of


class Organisation(Base):
    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    siret: Mapped[str | None] = mapped_column(String(14), unique=True)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    products: Mapped[list[Product]] = relationship(back_populates="organisation")
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="organisation")

    def __str__(self) -> str:
        return self.name


class ApiToken(Base):
    """An organisation's bearer token for the intake API. Only a SHA-256 of the token is
    stored; the prefix lets people tell tokens apart without revealing them."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship(back_populates="tokens")

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Product(Base):
    """The guide's product form: identification (name, version, type, NIL, responsable,
    description, certifications) and the qualification questionnaire's answers."""

    __tablename__ = "product"
    __table_args__ = (
        one_of("type", ["socle", "option"], "type"),
        UniqueConstraint("number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    # The number shown in the product label ("Careoptim - v0.1 - 883").
    number: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    type: Mapped[str] = mapped_column(String(16))
    nil: Mapped[str | None] = mapped_column(String(50))
    responsable: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    certifications: Mapped[list[str]] = mapped_column(default=list)
    qualification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    organisation: Mapped[Organisation] = relationship(back_populates="products")

    @property
    def label(self) -> str:
        return f"{self.name} - {self.version} - {self.number}"

    def __str__(self) -> str:
        return self.label


class ProductEvaluation(Base):
    """A self-assessment result received from the portal (e.g. securite-2021: 34/36)."""

    __tablename__ = "product_evaluation"
    __table_args__ = (UniqueConstraint("product_id", "questionnaire"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    questionnaire: Mapped[str] = mapped_column(String(64))
    answered: Mapped[int]
    total: Mapped[int]
    score: Mapped[int | None]
    level: Mapped[str | None] = mapped_column(String(200))
    criteria: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
