"""Column helpers shared by the models."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import CheckConstraint, Integer
from sqlalchemy.types import BigInteger

# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def one_of(column: str, values: Iterable[str], name: str) -> CheckConstraint:
    """A CHECK that keeps a code column within its codes (portable, unlike native enums
    whose changes need ALTER TYPE)."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name)
