"""Whose turn it is, kept with the queue fields of the candidature

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ANS = ("soumise", "en_instruction", "a_envoyer", "signee", "expiree", "refusee", "deposees",
       "echec_emission", "a_programmer", "inscrite")
VENDOR = ("brouillon", "complements_demandes", "envoyee", "en_attente_depot")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue_turn', sa.String(length=16), nullable=True))
    op.execute(f"""
        UPDATE candidature SET queue_turn = CASE
          WHEN queue_status IN ({_in(ANS)}) THEN 'ans'
          WHEN queue_status IN ({_in(VENDOR)}) THEN 'industriel'
          WHEN queue_status = 'en_cours' THEN CASE WHEN EXISTS (
              SELECT 1 FROM section_review s WHERE s.candidature_id = candidature.id
                AND s.status IN ('soumise', 'en_revue')) THEN 'ans' ELSE 'industriel' END
          END
    """)  # noqa: S608 - constants only


def downgrade() -> None:
    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.drop_column('queue_turn')
