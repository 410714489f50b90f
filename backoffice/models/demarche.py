"""Démarches (their admin-set switches) and their campaign windows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base
from backoffice.models._types import one_of
from backoffice.workflow.definitions import DEMARCHES, DemarcheDef, Parcours


class Demarche(Base):
    """One row per démarche of design.md; the steps themselves are code
    (workflow.definitions), the switches an admin may flip are here."""

    __tablename__ = "demarche"
    __table_args__ = (
        one_of("code", list(DEMARCHES), "code"),
        one_of("parcours", [p.value for p in Parcours], "parcours"),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    parcours: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    # Only meaningful for dmn_ligne_generique.
    phase_transitoire: Mapped[bool] = mapped_column(default=False)

    windows: Mapped[list[CampaignWindow]] = relationship(
        back_populates="demarche", order_by="CampaignWindow.opens_at"
    )

    @property
    def definition(self) -> DemarcheDef:
        return DEMARCHES[self.code]

    @property
    def steps(self) -> tuple[str, ...]:
        return self.definition.steps_for(self.phase_transitoire)

    def __str__(self) -> str:
        return self.label


class CampaignWindow(Base):
    """When vendors may file: the portal shows "Fermeture du dépôt de candidature :
    14 décembre 2023 14:00 (Heure de Paris)". Stored in UTC."""

    __tablename__ = "campaign_window"
    __table_args__ = (CheckConstraint("closes_at > opens_at", name="closes_after_opening"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demarche_code: Mapped[str] = mapped_column(ForeignKey("demarche.code"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]

    demarche: Mapped[Demarche] = relationship(back_populates="windows")

    def is_open(self, at: datetime) -> bool:
        return self.opens_at <= at < self.closes_at

    def __str__(self) -> str:
        return self.label
