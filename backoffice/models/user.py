"""Back-office accounts, their roles and their teams."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.db import Base, utcnow
from backoffice.models._types import one_of
from backoffice.workflow.definitions import PARCOURS_LABELS, Parcours


class Role(StrEnum):
    verificateur = "verificateur"
    college = "college"
    support = "support"
    admin = "admin"


ROLE_LABELS = {
    Role.verificateur: "Vérificateur",
    Role.college: "Collège de certification",
    Role.support: "Support",
    Role.admin: "Administrateur",
}

user_teams = Table(
    "user_team",
    Base.metadata,
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Base):
    """A team of vérificateurs working on one parcours."""

    __tablename__ = "team"
    __table_args__ = (one_of("parcours", [p.value for p in Parcours], "parcours"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    parcours: Mapped[str] = mapped_column(String(16))

    members: Mapped[list[User]] = relationship(secondary=user_teams, back_populates="teams")

    @property
    def parcours_label(self) -> str:
        return PARCOURS_LABELS[Parcours(self.parcours)]

    def __str__(self) -> str:
        return self.name


class UserRole(Base):
    __tablename__ = "user_role"
    __table_args__ = (one_of("role", [r.value for r in Role], "role"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    last_login_at: Mapped[datetime | None]
    # A collège member who prepares séances (creates them, builds their agenda).
    secretaire: Mapped[bool] = mapped_column(default=False)
    # Bumped at logout, password change and deactivation: every session cookie issued
    # before no longer counts (server-side invalidation of client-side sessions).
    session_epoch: Mapped[int] = mapped_column(default=0)
    # Second factor (RFC 6238 TOTP). The secret is stored encrypted (backoffice.auth.totp);
    # totp_last_counter makes every code single-use.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled_at: Mapped[datetime | None]
    totp_last_counter: Mapped[int | None] = mapped_column(BigInteger)
    # After an administrator's reset of the second factor: the keyed hash of the one-time
    # enrolment code the reset showed to the administrator (the user must enter it with
    # the password to enrol), then of the grant of the login that entered it; and when it
    # stops counting (backoffice.auth.enrolment).
    enrolment_code_hash: Mapped[str | None] = mapped_column(String(64))
    enrolment_code_expires_at: Mapped[datetime | None]

    role_rows: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by=UserRole.role
    )
    teams: Mapped[list[Team]] = relationship(
        secondary=user_teams, back_populates="members", lazy="selectin", order_by=Team.name
    )

    # Flask-Login's protocol
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def roles(self) -> set[str]:
        return {r.role for r in self.role_rows}

    @roles.setter
    def roles(self, values: set[str] | list[str]) -> None:
        wanted = {Role(v).value for v in values}
        self.role_rows = [r for r in self.role_rows if r.role in wanted] + [
            UserRole(role=v) for v in sorted(wanted - self.roles)
        ]

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def primary_role(self) -> str | None:
        for role in (Role.admin, Role.verificateur, Role.college, Role.support):
            if role in self.roles:
                return role.value
        return None

    @property
    def role_labels(self) -> list[str]:
        return [ROLE_LABELS[Role(r)] for r in sorted(self.roles)]

    @property
    def parcours(self) -> set[str]:
        return {t.parcours for t in self.teams}

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class RecoveryCode(Base):
    """A single-use recovery code for the second factor, stored hashed."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]
