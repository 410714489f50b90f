"""certificates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backoffice.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('certificat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('numero_referencement', sa.String(length=40), nullable=True),
    sa.Column('fichier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('product_label', sa.String(length=300), nullable=False),
    sa.Column('organisation_name', sa.String(length=200), nullable=False),
    sa.Column('referentiel_label', sa.String(length=300), nullable=False),
    sa.Column('issued_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_check_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_motive', sa.Text(), nullable=True),
    sa.Column('status_changed_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('certificat', 'referencement')", name=op.f('ck_certificat_kind')),
    sa.CheckConstraint("status = 'valide' OR status_motive IS NOT NULL", name=op.f('ck_certificat_motive')),
    sa.CheckConstraint("status IN ('valide', 'suspendu', 'retire')", name=op.f('ck_certificat_status')),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_certificat_candidature_id_candidature')),
    sa.ForeignKeyConstraint(['fichier_id'], ['fichier.id'], name=op.f('fk_certificat_fichier_id_fichier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificat')),
    sa.UniqueConstraint('candidature_id', name=op.f('uq_certificat_candidature_id')),
    sa.UniqueConstraint('number', name=op.f('uq_certificat_number')),
    sa.UniqueConstraint('numero_referencement', name=op.f('uq_certificat_numero_referencement'))
    )


def downgrade() -> None:
    op.drop_table('certificat')
