"""The follows and holdings carry their dossier's search text (and the follows its
démarche)

« Suivis » and « Mes dossiers » searched checked each match of the term against the
user's follows or holdings, or each of the user's rows against its candidature: at 1M
candidatures « Suivis » searched for a frequent term cost 2.5-2.8x the plain queue, and
« Mes dossiers » 1.8x (docs/benchmarks/queues-1m.md). With copies of the search text
(kept by the flushes, backoffice/models/follow.py) in the indexes the user's rows are
walked by, the term is checked there, the index alone read; a rare term is looked up in
a trigram index of the user's follows (« Suivis », `cardiotrack`: its 3,463 matches among
every candidature each probed a follow, 13 ms; the user's 275 from the index, 2.8 ms).

On PostgreSQL the copy is one UPDATE per table (23 s for 2.3 million follows on the
benchmark host), under a longer statement timeout than a page's.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None

HOLDING_INDEXES = (('ix_dossier_holding_attente', ['user_id', 'queue_since', 'candidature_id']),
                   ('ix_dossier_holding_echeance',
                    ['user_id', 'queue_due_at', 'candidature_id']),
                   ('ix_dossier_holding_activite',
                    ['user_id', 'last_activity_at', 'candidature_id']))


# each table's copies of its dossier's columns, on PostgreSQL (UPDATE ... FROM) and SQLite
COPIES = {
    "postgresql": (
        "UPDATE dossier_follow SET demarche_code = c.demarche_code, "
        "search_text = c.search_text FROM candidature c "
        "WHERE c.id = dossier_follow.candidature_id",
        "UPDATE dossier_holding SET search_text = c.search_text FROM candidature c "
        "WHERE c.id = dossier_holding.candidature_id"),
    "sqlite": (
        "UPDATE dossier_follow SET "
        "demarche_code = (SELECT c.demarche_code FROM candidature c "
        "WHERE c.id = dossier_follow.candidature_id), "
        "search_text = (SELECT c.search_text FROM candidature c "
        "WHERE c.id = dossier_follow.candidature_id)",
        "UPDATE dossier_holding SET search_text = (SELECT c.search_text FROM candidature c "
        "WHERE c.id = dossier_holding.candidature_id)"),
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    postgresql = dialect == "postgresql"
    if postgresql:
        op.execute("SET LOCAL statement_timeout = '30min'")  # every follow rewritten
    op.add_column('dossier_follow', sa.Column('demarche_code', sa.String(length=32),
                                              nullable=True))
    op.add_column('dossier_follow', sa.Column('search_text', sa.Text(), nullable=True))
    op.add_column('dossier_holding', sa.Column('search_text', sa.Text(), nullable=True))
    for statement in COPIES[dialect]:
        op.execute(statement)
    with op.batch_alter_table('dossier_follow', schema=None) as batch_op:
        batch_op.alter_column('demarche_code', existing_type=sa.String(length=32),
                              nullable=False)
    op.create_index('ix_dossier_follow_walk', 'dossier_follow',
                    ['user_id', 'candidature_id'],
                    postgresql_include=['demarche_code', 'search_text'])
    if postgresql:
        # a GIN index over the user and the trigrams of the text (contrib, trusted: like
        # pg_trgm, created by the database's owner)
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index('ix_dossier_follow_search_trgm', 'dossier_follow',
                    ['user_id', 'search_text'], postgresql_using='gin',
                    postgresql_ops={'search_text': 'gin_trgm_ops'})
    for name, columns in HOLDING_INDEXES:
        op.drop_index(name, table_name='dossier_holding')
        op.create_index(name, 'dossier_holding', columns,
                        postgresql_include=['demarche_code', 'current_step', 'search_text'])


def downgrade() -> None:
    for name, columns in HOLDING_INDEXES:
        op.drop_index(name, table_name='dossier_holding')
        op.create_index(name, 'dossier_holding', columns)
    op.drop_index('ix_dossier_follow_search_trgm', table_name='dossier_follow')
    op.drop_index('ix_dossier_follow_walk', table_name='dossier_follow')
    with op.batch_alter_table('dossier_holding', schema=None) as batch_op:
        batch_op.drop_column('search_text')
    with op.batch_alter_table('dossier_follow', schema=None) as batch_op:
        batch_op.drop_column('search_text')
        batch_op.drop_column('demarche_code')
