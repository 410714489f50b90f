"""Indexes on the candidature's campaign window: the queue's campaign filter

Without them, the filter « Campagne » walked the sort's index over every candidature in
progress (or, in « Tous », every candidature) and checked each row: a campaign with few
candidatures left examined the whole walk, twice (the page and its count), and a large
one every candidature of the other campaigns waiting longer. Measured at 1M candidatures
(docs/benchmarks/queues-1m.md): 1.3M rows examined for one candidature found (14-16x the
plain queue), 145,000 to find a large campaign's first page (4-11x). With these indexes:
the campaign's own rows, in the queue's default order for « À traiter »
(ix_candidature_campaign_attente), by campaign and status for the other views and sorts
(ix_candidature_campaign, also the foreign key's index).

And the home page's « mes dossiers » (the user's dossiers in progress by démarche and
step): ix_candidature_overview has the assignee in fourth place, so every entry of the
démarches was read (2,140 buffers, 21 ms at 1M for 2,909 dossiers); ix_candidature_mine
reads the user's entries only (38 buffers, 3.8 ms).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

IN_PROGRESS = sa.text("status = 'en_cours'")

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_candidature_campaign', 'candidature',
                    ['campaign_window_id', 'status'])
    op.create_index('ix_candidature_campaign_attente', 'candidature',
                    ['campaign_window_id', 'queue_since', 'id'],
                    postgresql_where=IN_PROGRESS, sqlite_where=IN_PROGRESS)
    op.create_index('ix_candidature_mine', 'candidature',
                    ['queue_assignee_id', 'demarche_code', 'current_step'],
                    postgresql_where=IN_PROGRESS, sqlite_where=IN_PROGRESS)


def downgrade() -> None:
    op.drop_index('ix_candidature_mine', table_name='candidature')
    op.drop_index('ix_candidature_campaign_attente', table_name='candidature')
    op.drop_index('ix_candidature_campaign', table_name='candidature')
