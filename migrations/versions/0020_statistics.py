"""Statistics: what the workflow records at each decision (days the clock ran, within the
delay or not, days paused) and the tables the periodic job keeps for /statistiques.

Adding nullable columns or a column with a constant default rewrites nothing on
PostgreSQL (11+).

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backoffice.db import UTCDateTime

revision = '0020'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("candidature_step") as batch:
        batch.add_column(sa.Column("paused_days", sa.Float(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("lead_days", sa.Float(), nullable=True))
        batch.add_column(sa.Column("within_delay", sa.Boolean(), nullable=True))
    op.create_table(
        "stat_weekly",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("demarche_code", sa.String(32), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("extra", sa.Integer(), nullable=False),
    )
    op.create_index("ix_stat_weekly_lookup", "stat_weekly", ["metric", "week", "demarche_code"])
    op.create_table(
        "stat_current",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("demarche_code", sa.String(32), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stat_current_lookup", "stat_current", ["metric", "demarche_code"])


def downgrade() -> None:
    op.drop_table("stat_current")
    op.drop_table("stat_weekly")
    with op.batch_alter_table("candidature_step") as batch:
        batch.drop_column("within_delay")
        batch.drop_column("lead_days")
        batch.drop_column("paused_days")
