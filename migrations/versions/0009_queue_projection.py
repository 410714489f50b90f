"""Queue projection of the current step on the candidature, with one partial index per
queue sort (docs/benchmarks.md)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backoffice.db import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

EN_COURS = sa.text("status = 'en_cours'")
INDEXES = {
    "ix_candidature_queue_attente": ["queue_since", "id"],
    "ix_candidature_queue_echeance": ["queue_due_at", "id"],
    "ix_candidature_queue_activite": ["last_activity_at", "id"],
    "ix_candidature_queue_assignee": ["queue_assignee_id"],
}

TRIGRAMS = [("ix_candidature_reference_trgm", "candidature", "reference"),
            ("ix_product_name_trgm", "product", "name"),
            ("ix_organisation_name_trgm", "organisation", "name")]


def upgrade() -> None:
    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue_since', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('queue_status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('queue_assignee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('queue_due_at', UTCDateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    far = "'9999-12-31 00:00:00'" if bind.dialect.name == "sqlite" \
        else "'9999-12-31 00:00:00+00'"
    # backfill from each candidature's current step
    op.execute(f"""
        UPDATE candidature SET
          queue_since = COALESCE((SELECT COALESCE(s.submitted_at, s.opened_at)
                                  FROM candidature_step s
                                  WHERE s.candidature_id = candidature.id
                                    AND s.step = candidature.current_step), created_at),
          queue_status = (SELECT s.status FROM candidature_step s
                          WHERE s.candidature_id = candidature.id
                            AND s.step = candidature.current_step),
          queue_assignee_id = (SELECT s.assignee_id FROM candidature_step s
                               WHERE s.candidature_id = candidature.id
                                 AND s.step = candidature.current_step),
          queue_due_at = COALESCE((SELECT s.due_at FROM candidature_step s
                                   WHERE s.candidature_id = candidature.id
                                     AND s.step = candidature.current_step), {far})
    """)  # noqa: S608 - constants only
    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.alter_column('queue_since', nullable=False, server_default=sa.func.now())
        batch_op.alter_column('queue_due_at', nullable=False)
        batch_op.create_foreign_key(op.f('fk_candidature_queue_assignee_id_user_account'),
                                    'user_account', ['queue_assignee_id'], ['id'])
    for name, columns in INDEXES.items():
        op.create_index(name, 'candidature', columns, postgresql_where=EN_COURS,
                        sqlite_where=EN_COURS)
    # the queue's search: trigram indexes on PostgreSQL (pg_trgm is a trusted extension)
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in TRIGRAMS:
        op.create_index(name, table, [column], postgresql_using="gin",
                        postgresql_ops={column: "gin_trgm_ops"})


def downgrade() -> None:
    for name, table, _column in TRIGRAMS:
        op.drop_index(name, table_name=table)
    for name in INDEXES:
        op.drop_index(name, table_name='candidature')
    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_candidature_queue_assignee_id_user_account'),
                                 type_='foreignkey')
        batch_op.drop_column('queue_due_at')
        batch_op.drop_column('queue_assignee_id')
        batch_op.drop_column('queue_status')
        batch_op.drop_column('queue_since')
