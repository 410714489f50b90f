"""Queue exports prepared in the background (issue 19, item 3)

Revision ID: 0023
Revises: 0017
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backoffice.db import UTCDateTime

revision = '0023'
down_revision = '0017'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'queue_export',
        sa.Column('id', BIGINT, autoincrement=True, nullable=False),
        sa.Column('requester_id', sa.Integer(), nullable=False),
        sa.Column('format', sa.String(length=8), nullable=False),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.Column('description', sa.String(length=500), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('rows_total', sa.Integer(), nullable=True),
        sa.Column('rows_written', sa.Integer(), nullable=False),
        sa.Column('file_key', sa.String(length=200), nullable=True),
        sa.Column('file_size', sa.BigInteger(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('started_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('finished_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('downloaded_at', UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("format IN ('csv', 'xlsx')", name=op.f('ck_queue_export_format')),
        sa.CheckConstraint("status IN ('en_attente', 'en_cours', 'pret', 'echec', 'expire')",
                           name=op.f('ck_queue_export_status')),
        sa.CheckConstraint("status <> 'pret' OR (file_key IS NOT NULL AND expires_at IS NOT NULL)",
                           name=op.f('ck_queue_export_ready_has_file')),
        sa.ForeignKeyConstraint(['requester_id'], ['user_account.id'],
                                name=op.f('fk_queue_export_requester_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_export')),
    )
    op.create_index('ix_queue_export_requester', 'queue_export', ['requester_id', 'id'])
    op.create_index('ix_queue_export_expiry', 'queue_export', ['status', 'expires_at'])


def downgrade() -> None:
    op.drop_index('ix_queue_export_expiry', table_name='queue_export')
    op.drop_index('ix_queue_export_requester', table_name='queue_export')
    op.drop_table('queue_export')
