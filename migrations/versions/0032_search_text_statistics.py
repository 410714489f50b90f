"""A larger statistics sample of the search text (PostgreSQL)

The queue's search asks the trigram index for a rare term's three rarest trigrams
instead of all of them (backoffice/queues/search.py): at 1M candidatures « cardiotrack »
intersected nine posting lists, some in a sixth of the rows (7.5 ms), and three of them
give as many candidates (2.2 ms). How rare a trigram is, and whether the term itself is
frequent, is read from the search texts ANALYZE samples; 1,001 of them instead of 101
tell a trigram in 2 % of the rows from one in 10 %. The planner's estimates of a LIKE
pattern come from the same sample. SQLite: nothing to do.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE candidature ALTER COLUMN search_text SET STATISTICS 1000")
    op.execute("ANALYZE candidature (search_text)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE candidature ALTER COLUMN search_text SET STATISTICS -1")
