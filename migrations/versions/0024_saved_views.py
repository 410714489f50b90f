"""Saved queue views and the indexes of the « Traités », « Suivis » and « Tous » views and
of the search across open and ended candidatures (issue 18, items 2 and 3;
docs/workspace.md, « Vues et recherche »).

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backoffice.db import UTCDateTime

revision = '0024'
down_revision = '0022'
branch_labels = None
depends_on = None

ENDED = sa.text("status <> 'en_cours'")


def upgrade() -> None:
    op.create_table(
        'saved_view',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('args', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'],
                                name=op.f('fk_saved_view_owner_id_user_account'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['team_id'], ['team.id'],
                                name=op.f('fk_saved_view_team_id_team'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_view')),
    )
    op.create_index('ix_saved_view_owner', 'saved_view', ['owner_id', 'name'])
    op.create_index('ix_saved_view_team', 'saved_view', ['team_id', 'name'])
    op.create_index('ix_candidature_closed', 'candidature', ['closed_at', 'id'],
                    postgresql_where=ENDED, sqlite_where=ENDED)
    op.create_index('ix_candidature_activite_all', 'candidature', ['last_activity_at', 'id'])
    op.create_index('ix_candidature_search_all_trgm', 'candidature', ['search_text'],
                    postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'})
    op.create_index('ix_candidature_step_decided_by', 'candidature_step', ['decided_by_id'])


def downgrade() -> None:
    op.drop_index('ix_candidature_step_decided_by', table_name='candidature_step')
    op.drop_index('ix_candidature_search_all_trgm', table_name='candidature')
    op.drop_index('ix_candidature_activite_all', table_name='candidature')
    op.drop_index('ix_candidature_closed', table_name='candidature')
    op.drop_index('ix_saved_view_team', table_name='saved_view')
    op.drop_index('ix_saved_view_owner', table_name='saved_view')
    op.drop_table('saved_view')
