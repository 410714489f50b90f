"""The open dossiers each vérificateur holds (« Mes dossiers »)

One row per open dossier and user who holds its current step or reviews one of its
sections, with the dossier's sort keys, kept by the transactions
(backoffice/models/follow.py) and filled here.
« Mes dossiers » (the queue's « attribution = moi ») listed the steps one holds and only
named beside them the sections one reviews; it now lists both, walking the user's
holdings in the sort's order (a first attempt without the keys, probing the holdings
along the candidatures' sort index, cost 3.7x the plain queue at 1M).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backoffice.db import UTCDateTime

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

INDEXES = (('ix_dossier_holding_attente', 'queue_since'),
           ('ix_dossier_holding_echeance', 'queue_due_at'),
           ('ix_dossier_holding_activite', 'last_activity_at'))


def upgrade() -> None:
    op.create_table(
        'dossier_holding',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('candidature_id', sa.Integer(), nullable=False),
        sa.Column('queue_since', UTCDateTime(timezone=True), nullable=False),
        sa.Column('queue_due_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_activity_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('demarche_code', sa.String(length=32), nullable=False),
        sa.Column('current_step', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'],
                                name=op.f('fk_dossier_holding_candidature_id_candidature'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_dossier_holding_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'candidature_id', name=op.f('pk_dossier_holding')),
    )
    op.execute(
        "INSERT INTO dossier_holding (user_id, candidature_id, queue_since, queue_due_at, "
        "last_activity_at, demarche_code, current_step) "
        "SELECT h.user_id, c.id, c.queue_since, c.queue_due_at, c.last_activity_at, "
        "c.demarche_code, c.current_step FROM ("
        "SELECT queue_assignee_id AS user_id, id AS candidature_id FROM candidature "
        "WHERE status = 'en_cours' AND queue_assignee_id IS NOT NULL "
        "UNION SELECT r.assignee_id, r.candidature_id FROM section_review r "
        "JOIN candidature c ON c.id = r.candidature_id "
        "WHERE r.status IN ('soumise', 'en_revue') AND r.assignee_id IS NOT NULL "
        "AND c.status = 'en_cours') h JOIN candidature c ON c.id = h.candidature_id")
    op.create_index(op.f('ix_dossier_holding_candidature_id'), 'dossier_holding',
                    ['candidature_id'])
    for name, key in INDEXES:
        op.create_index(name, 'dossier_holding', ['user_id', key, 'candidature_id'])
    op.create_index('ix_dossier_holding_place', 'dossier_holding',
                    ['user_id', 'demarche_code', 'current_step'])


def downgrade() -> None:
    op.drop_index('ix_dossier_holding_place', table_name='dossier_holding')
    for name, _ in INDEXES:
        op.drop_index(name, table_name='dossier_holding')
    op.drop_index(op.f('ix_dossier_holding_candidature_id'), table_name='dossier_holding')
    op.drop_table('dossier_holding')
