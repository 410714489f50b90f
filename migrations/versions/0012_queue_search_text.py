"""The queue's search reads one column of the candidature: its reference, product and
vendor names in lower case, with a trigram index of the candidatures in progress
(docs/benchmarks.md: at 1M, searching a product name 83 → 34 ms p95, a frequent prefix
190 → 42 ms). The three trigram indexes it replaces (reference, product name, vendor name)
go.

The backfill lowers the text in Python, as the application does (SQLite's lower() knows
ASCII letters only), 5,000 candidatures at a time: 3 minutes for a million on the
benchmark host.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

EN_COURS = sa.text("status = 'en_cours'")
OLD_TRIGRAMS = [("ix_candidature_reference_trgm", "candidature", "reference"),
                ("ix_product_name_trgm", "product", "name"),
                ("ix_organisation_name_trgm", "organisation", "name")]
BATCH = 5000


def _text(reference: str, product: str, vendor: str) -> str:
    # as backoffice.models.candidature.search_text (a migration keeps its own copy)
    return f"{reference} {product} {vendor}".lower()


def upgrade() -> None:
    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.text(
            "SELECT c.id, c.reference, p.name, o.name FROM candidature c "
            "JOIN product p ON p.id = c.product_id "
            "JOIN organisation o ON o.id = c.organisation_id "
            "WHERE c.id > :last ORDER BY c.id LIMIT :n"), {"last": last, "n": BATCH}).all()
        if not rows:
            break
        bind.execute(sa.text("UPDATE candidature SET search_text = :t WHERE id = :i"),
                     [{"i": i, "t": _text(r, p, o)} for i, r, p, o in rows])
        last = rows[-1][0]
    for name, table, _column in OLD_TRIGRAMS:
        op.drop_index(name, table_name=table)
    op.create_index('ix_candidature_search_trgm', 'candidature', ['search_text'],
                    postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'},
                    postgresql_where=EN_COURS, sqlite_where=EN_COURS)


def downgrade() -> None:
    op.drop_index('ix_candidature_search_trgm', table_name='candidature')
    for name, table, column in OLD_TRIGRAMS:
        op.create_index(name, table, [column], postgresql_using="gin",
                        postgresql_ops={column: "gin_trgm_ops"})
    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.drop_column('search_text')
