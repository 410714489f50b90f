"""support: file tombstones

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backoffice.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fichier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', backoffice.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deleted_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('deletion_motive', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('deletion_request', sa.String(length=100), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_fichier_deleted_by_id_user_account'), 'user_account', ['deleted_by_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('fichier', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_fichier_deleted_by_id_user_account'), type_='foreignkey')
        batch_op.drop_column('deletion_request')
        batch_op.drop_column('deletion_motive')
        batch_op.drop_column('deleted_by_id')
        batch_op.drop_column('deleted_at')

