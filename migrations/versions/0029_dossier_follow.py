"""The dossiers each vérificateur follows (« Suivis »)

One row per user and dossier the user holds or held a step of, or decided one of,
kept by the transactions (backoffice/models/follow.py) and filled here from the steps.
« Suivis » read the steps through a semi-join that walked every step the user ever
touched (66,000 for the bench's vérificateur at 1M candidatures): its count cost 1.8x
the plain queue at p50 (docs/benchmarks/queues-1m.md).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dossier_follow',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('candidature_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'],
                                name=op.f('fk_dossier_follow_candidature_id_candidature'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_dossier_follow_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'candidature_id', name=op.f('pk_dossier_follow')),
    )
    op.create_index(op.f('ix_dossier_follow_candidature_id'), 'dossier_follow',
                    ['candidature_id'])
    op.execute(
        "INSERT INTO dossier_follow (user_id, candidature_id) "
        "SELECT assignee_id, candidature_id FROM candidature_step "
        "WHERE assignee_id IS NOT NULL "
        "UNION SELECT decided_by_id, candidature_id FROM candidature_step "
        "WHERE decided_by_id IS NOT NULL")


def downgrade() -> None:
    op.drop_index(op.f('ix_dossier_follow_candidature_id'), table_name='dossier_follow')
    op.drop_table('dossier_follow')
