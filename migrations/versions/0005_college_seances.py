"""college seances

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backoffice.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('seance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('date', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('president_id', sa.Integer(), nullable=False),
    sa.Column('quorum', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pv_storage_key', sa.String(length=80), nullable=True),
    sa.Column('pv_sha256', sa.String(length=64), nullable=True),
    sa.CheckConstraint("status IN ('ouverte', 'close')", name=op.f('ck_seance_status')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_seance_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['president_id'], ['user_account.id'], name=op.f('fk_seance_president_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seance'))
    )
    op.create_table('seance_member',
    sa.Column('seance_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['seance_id'], ['seance.id'], name=op.f('fk_seance_member_seance_id_seance'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_seance_member_user_id_user_account')),
    sa.PrimaryKeyConstraint('seance_id', 'user_id', name=op.f('pk_seance_member'))
    )
    op.create_table('agenda_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seance_id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('motive', sa.Text(), nullable=True),
    sa.Column('decided_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("decision IN ('favorable', 'defavorable', 'ajournee')", name=op.f('ck_agenda_item_decision')),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_agenda_item_candidature_id_candidature')),
    sa.ForeignKeyConstraint(['seance_id'], ['seance.id'], name=op.f('fk_agenda_item_seance_id_seance'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agenda_item')),
    sa.UniqueConstraint('seance_id', 'candidature_id', name=op.f('uq_agenda_item_seance_id_candidature_id'))
    )
    op.create_table('conflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('declared_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['agenda_item.id'], name=op.f('fk_conflict_item_id_agenda_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_conflict_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conflict')),
    sa.UniqueConstraint('item_id', 'user_id', name=op.f('uq_conflict_item_id_user_id'))
    )
    op.create_table('vote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('vote', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("vote IN ('favorable', 'defavorable', 'abstention')", name=op.f('ck_vote_vote')),
    sa.ForeignKeyConstraint(['item_id'], ['agenda_item.id'], name=op.f('fk_vote_item_id_agenda_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_vote_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote')),
    sa.UniqueConstraint('item_id', 'user_id', name=op.f('uq_vote_item_id_user_id'))
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secretaire', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('secretaire')

    op.drop_table('vote')
    op.drop_table('conflict')
    op.drop_table('agenda_item')
    op.drop_table('seance_member')
    op.drop_table('seance')
