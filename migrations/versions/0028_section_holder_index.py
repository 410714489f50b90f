"""Index of the sections each vérificateur holds

« Mes dossiers » (the queue's « attribution = moi ») lists the dossiers whose current step
is mine and says, beside them, how many sections of the evidence review I hold (submitted
again to me, or under my review) and in how many dossiers, with a link to « Mes
sections »; the home page's « Mes sections » button shows the number. Both read the
user's entries of this index, index only.

Merging those dossiers into the list itself was tried and measured at 1M candidatures
(docs/benchmarks/queues-1m.md): a union of the user's steps and sections read whole
(4,651 entries for the bench's vérificateur) cost 3.3x the plain queue at p50, against
1.5x for the steps alone; it waits for a per-user holdings table kept with the sort keys.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

HELD = sa.text("status IN ('soumise', 'en_revue')")

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_section_review_holder', 'section_review',
                    ['assignee_id', 'candidature_id'],
                    postgresql_where=HELD, sqlite_where=HELD)


def downgrade() -> None:
    op.drop_index('ix_section_review_holder', table_name='section_review')
