"""Index of the sections each vérificateur holds: « Mes dossiers » includes them

« Mes dossiers » (the queue's « attribution = moi », the home page's column) lists the
dossiers whose current step is mine and, since this revision, those with a section of
the evidence review that I hold (soumise again to me, or en revue). The sections are read
from this index, the user's own entries only.

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
