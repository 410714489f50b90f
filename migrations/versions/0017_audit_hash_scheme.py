"""The audit trail's hash scheme, per row: 1 for the unkeyed SHA-256 rows written so far,
2 for the HMAC-SHA256 rows written from now on (backoffice/audit.py).

The existing rows keep their hashes and still verify: the scheme is versioned per row
rather than re-anchored here, because re-anchoring needs the HMAC key, which lives
outside the database and which the migration (run as the table's owner, possibly on
another host) should not need. The first keyed row chains to the last unkeyed one, so its
HMAC covers the whole unkeyed history; a later row may never go back to scheme 1.

Adding a column with a constant default rewrites nothing on PostgreSQL (11+), and is a
plain ALTER TABLE on SQLite: the append-only triggers stay in place.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from __future__ import annotations

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_event', sa.Column('hash_scheme', sa.SmallInteger(), nullable=False,
                                           server_default='1'))


def downgrade() -> None:
    """Keyed rows (scheme 2) no longer verify once the column is gone."""
    # SQLite drops a column by copying the table, which loses its triggers: put them back.
    append_only = import_module("migrations.versions.0002_lifecycle_referentiels_sections_files_")
    append_only._drop_append_only()
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('hash_scheme')
    append_only._append_only()
