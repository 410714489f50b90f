"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backoffice.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('demarche',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('parcours', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('phase_transitoire', sa.Boolean(), nullable=False),
    sa.CheckConstraint("code IN ('dmn_nom_de_marque', 'dmn_pecan', 'dmn_pect', 'dmn_ligne_generique', 'sons_sas')", name=op.f('ck_demarche_code')),
    sa.CheckConstraint("parcours IN ('dmn', 'segur')", name=op.f('ck_demarche_parcours')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_demarche'))
    )
    op.create_table('organisation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('contact_email', sa.String(length=254), nullable=True),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation')),
    sa.UniqueConstraint('siret', name=op.f('uq_organisation_siret'))
    )
    op.create_table('team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('parcours', sa.String(length=16), nullable=False),
    sa.CheckConstraint("parcours IN ('dmn', 'segur')", name=op.f('ck_team_parcours')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team')),
    sa.UniqueConstraint('name', name=op.f('uq_team_name'))
    )
    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('last_login_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('email', name=op.f('uq_user_account_email'))
    )
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('revoked_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_api_token_organisation_id_organisation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('campaign_window',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('demarche_code', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('opens_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closes_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('closes_at > opens_at', name=op.f('ck_campaign_window_closes_after_opening')),
    sa.ForeignKeyConstraint(['demarche_code'], ['demarche.code'], name=op.f('fk_campaign_window_demarche_code_demarche')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_window'))
    )
    with op.batch_alter_table('campaign_window', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_window_demarche_code'), ['demarche_code'], unique=False)

    op.create_table('product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('nil', sa.String(length=50), nullable=True),
    sa.Column('responsable', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('certifications', sa.JSON(), nullable=False),
    sa.Column('qualification', sa.JSON(), nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("type IN ('socle', 'option')", name=op.f('ck_product_type')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_product_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product')),
    sa.UniqueConstraint('number', name=op.f('uq_product_number'))
    )
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('user_role',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.CheckConstraint("role IN ('verificateur', 'college', 'support', 'admin')", name=op.f('ck_user_role_role')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_role_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role', name=op.f('pk_user_role'))
    )
    op.create_table('user_team',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_user_team_team_id_team'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_team_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'team_id', name=op.f('pk_user_team'))
    )
    op.create_table('candidature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=9), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('demarche_code', sa.String(length=32), nullable=False),
    sa.Column('campaign_window_id', sa.Integer(), nullable=True),
    sa.Column('current_step', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('submitted_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_activity_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('closed_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("current_step IN ('recevabilite', 'depot', 'eligibilite', 'convention', 'preuves', 'preuves_pour_avis', 'college', 'certificat', 'referencement')", name=op.f('ck_candidature_current_step')),
    sa.CheckConstraint("status = 'en_cours' OR closed_at IS NOT NULL", name=op.f('ck_candidature_closed_has_date')),
    sa.CheckConstraint("status IN ('en_cours', 'certifiee', 'avis_rendu', 'referencee', 'rejetee', 'abandonnee', 'close_sans_suite')", name=op.f('ck_candidature_status')),
    sa.CheckConstraint('length(reference) = 9 AND upper(reference) = reference', name=op.f('ck_candidature_reference_format')),
    sa.ForeignKeyConstraint(['campaign_window_id'], ['campaign_window.id'], name=op.f('fk_candidature_campaign_window_id_campaign_window')),
    sa.ForeignKeyConstraint(['demarche_code'], ['demarche.code'], name=op.f('fk_candidature_demarche_code_demarche')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_candidature_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_candidature_product_id_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_candidature')),
    sa.UniqueConstraint('reference', name=op.f('uq_candidature_reference'))
    )
    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidature_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_candidature_product_id'), ['product_id'], unique=False)

    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=300), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('target_type', sa.String(length=50), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_audit_event_actor_id_user_account')),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_audit_event_candidature_id_candidature')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_event_hash'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_candidature', ['candidature_id', 'id'], unique=False)

    op.create_table('candidature_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('informative', sa.Boolean(), nullable=False),
    sa.Column('opened_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status <> 'en_instruction' OR assignee_id IS NOT NULL", name=op.f('ck_candidature_step_held')),
    sa.CheckConstraint("status IN ('a_venir', 'brouillon', 'soumise', 'en_instruction', 'complements_demandes', 'validee', 'rejetee', 'a_envoyer', 'envoyee', 'signee', 'expiree', 'refusee', 'en_cours', 'en_attente_depot', 'deposees', 'avis_rendu', 'a_programmer', 'inscrite', 'favorable', 'defavorable', 'emission_en_cours', 'emis', 'echec_emission')", name=op.f('ck_candidature_step_status')),
    sa.CheckConstraint("status NOT IN ('validee', 'rejetee', 'favorable', 'defavorable', 'avis_rendu') OR decided_at IS NOT NULL", name=op.f('ck_candidature_step_decided')),
    sa.CheckConstraint("step IN ('recevabilite', 'depot', 'eligibilite', 'convention', 'preuves', 'preuves_pour_avis', 'college', 'certificat', 'referencement')", name=op.f('ck_candidature_step_step')),
    sa.ForeignKeyConstraint(['assignee_id'], ['user_account.id'], name=op.f('fk_candidature_step_assignee_id_user_account')),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_candidature_step_candidature_id_candidature'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_candidature_step_decided_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_candidature_step')),
    sa.UniqueConstraint('candidature_id', 'step', name=op.f('uq_candidature_step_candidature_id_step'))
    )
    with op.batch_alter_table('candidature_step', schema=None) as batch_op:
        batch_op.create_index('ix_candidature_step_assignee', ['assignee_id', 'status'], unique=False)
        batch_op.create_index('ix_candidature_step_queue', ['step', 'status', 'submitted_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('candidature_step', schema=None) as batch_op:
        batch_op.drop_index('ix_candidature_step_queue')
        batch_op.drop_index('ix_candidature_step_assignee')

    op.drop_table('candidature_step')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_candidature')

    op.drop_table('audit_event')
    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidature_product_id'))
        batch_op.drop_index(batch_op.f('ix_candidature_organisation_id'))

    op.drop_table('candidature')
    op.drop_table('user_team')
    op.drop_table('user_role')
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_organisation_id'))

    op.drop_table('product')
    with op.batch_alter_table('campaign_window', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_window_demarche_code'))

    op.drop_table('campaign_window')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_organisation_id'))

    op.drop_table('api_token')
    op.drop_table('user_account')
    op.drop_table('team')
    op.drop_table('organisation')
    op.drop_table('demarche')
