"""TOTP second factor, recovery codes, antivirus state of files, job outbox

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backoffice.db import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
SCAN = "scan_status IN ('sans_objet', 'en_attente', 'sain', 'infecte', 'erreur')"


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_last_counter', sa.BigInteger(), nullable=True))

    op.create_table(
        'recovery_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=128), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_recovery_code_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code')),
    )
    op.create_index(op.f('ix_recovery_code_user_id'), 'recovery_code', ['user_id'])

    with op.batch_alter_table('fichier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scan_status', sa.String(length=16), nullable=False,
                                      server_default='sans_objet'))
        batch_op.add_column(sa.Column('scan_detail', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('scanned_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint('scan_status', SCAN)

    op.create_table(
        'job_outbox',
        sa.Column('id', BIGINT, autoincrement=True, nullable=False),
        sa.Column('job_name', sa.String(length=100), nullable=False),
        sa.Column('args', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('enqueued_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_job_outbox')),
    )
    op.create_index('ix_job_outbox_pending', 'job_outbox', ['enqueued_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_job_outbox_pending', table_name='job_outbox')
    op.drop_table('job_outbox')
    with op.batch_alter_table('fichier', schema=None) as batch_op:
        batch_op.drop_constraint('scan_status', type_='check')
        batch_op.drop_column('scanned_at')
        batch_op.drop_column('scan_detail')
        batch_op.drop_column('scan_status')
    op.drop_index(op.f('ix_recovery_code_user_id'), table_name='recovery_code')
    op.drop_table('recovery_code')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('totp_last_counter')
        batch_op.drop_column('totp_enabled_at')
        batch_op.drop_column('totp_secret')
