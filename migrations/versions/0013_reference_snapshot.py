"""What init-db last wrote of each reference row (backoffice/reference): a field still as
the loader left it follows data/, a field an admin changed is kept.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backoffice.db import UTCDateTime

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reference_snapshot',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('values', sa.JSON(), nullable=False),
        sa.Column('loaded_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_reference_snapshot')),
    )


def downgrade() -> None:
    op.drop_table('reference_snapshot')
