"""The convention's Yousign ids (document, signer) and its downloaded audit trail

Issue 17, item 6: the request is created by a job after the vérificateur's click (the row
then has a sent_at and no signature_request_id yet); once signed, the job downloading the
signed document and Yousign's audit trail needs the document's and the signer's ids.

Revision ID: 0022
Revises: 0023
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0020'  # re-chained after main's 0023 (merge of main)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('convention', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('signer_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('audit_trail_fichier_id',
                                      sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_convention_audit_trail_fichier_id_fichier'),
                                    'fichier', ['audit_trail_fichier_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('convention', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_convention_audit_trail_fichier_id_fichier'),
                                 type_='foreignkey')
        batch_op.drop_column('audit_trail_fichier_id')
        batch_op.drop_column('signer_id')
        batch_op.drop_column('document_id')
