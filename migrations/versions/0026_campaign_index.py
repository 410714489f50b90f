"""An index on the candidature's campaign window: the queue's campaign filter

Without it, the filter « Campagne » walked the sort's index over every candidature in
progress (or, in « Tous », every candidature) and checked each row: a campaign with few
candidatures left examined the whole walk, twice (the page and its count). Measured at
100,000 candidatures (docs/benchmarks/queues-1m.md): 67,000 rows examined for one
candidature found; with the index, one index scan of that candidature. A large campaign
still walks the sort's index (PostgreSQL chooses from the window's frequency). It is also
the index of the foreign key to campaign_window.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_candidature_campaign', 'candidature',
                    ['campaign_window_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_candidature_campaign', table_name='candidature')
