"""The queues' walking indexes carry the démarche and the search text (PostgreSQL)

The queue walks the index of its sort and checks each row against the page's filters. A
search by a frequent term (« care » at 1M candidatures: one open dossier in thirteen)
checks 12,894 rows for the page's count: a heap fetch each, 12,926 buffers, 10 ms. With
the démarche and the search text in the index (INCLUDE), the walk reads the index
alone: 147 buffers, 2.2 ms (docs/benchmarks/queues-1m.md). The plain queue's démarche
filter is read from the index too, and the count of a large campaign reads 1,001 entries
of its index instead of a bitmap of all 78,000 (3.4 ms -> 0.4 ms). SQLite has no
INCLUDE: unchanged.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'en_cours'")
ENDED = sa.text("status <> 'en_cours'")
INDEXES = (
    ('ix_candidature_queue_attente', ['queue_since', 'id'], OPEN),
    ('ix_candidature_queue_echeance', ['queue_due_at', 'id'], OPEN),
    ('ix_candidature_queue_activite', ['last_activity_at', 'id'], OPEN),
    ('ix_candidature_closed', ['closed_at', 'id'], ENDED),
    ('ix_candidature_activite_all', ['last_activity_at', 'id'], None),
    ('ix_candidature_campaign_attente', ['campaign_window_id', 'queue_since', 'id'], OPEN),
)


def _recreate(include: list[str]) -> None:
    for name, columns, where in INDEXES:
        op.drop_index(name, table_name='candidature')
        op.create_index(name, 'candidature', columns, postgresql_where=where,
                        postgresql_include=include)


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _recreate(['demarche_code', 'search_text'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _recreate([])
