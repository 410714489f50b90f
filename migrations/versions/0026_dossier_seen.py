"""« Quoi de neuf » for vérificateurs (issue 18, item 1)

dossier_seen: when each user last opened each dossier (the queue's and tabs' « nouveau »
/ « modifié » markers); notification_preference: the daily digest opt-in and the marks
of the « Activité » page and of the digest; candidature_step.resumed_at: when the vendor
answered the last pause of the step's clock (« compléments reçus le … »).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backoffice.db import UTCDateTime

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dossier_seen',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('candidature_id', sa.Integer(), nullable=False),
        sa.Column('seen_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'],
                                name=op.f('fk_dossier_seen_candidature_id_candidature'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_dossier_seen_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'candidature_id', name=op.f('pk_dossier_seen')),
    )
    op.create_table(
        'notification_preference',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('daily_digest', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('activity_seen_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('digest_sent_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_notification_preference_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notification_preference')),
    )
    with op.batch_alter_table('candidature_step') as batch:
        batch.add_column(sa.Column('resumed_at', UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('candidature_step') as batch:
        batch.drop_column('resumed_at')
    op.drop_table('notification_preference')
    op.drop_table('dossier_seen')
