"""lifecycle: referentiels, sections, files, messages, convention, delays, api

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backoffice.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('piece_type',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parcours', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_piece_type')),
    sa.UniqueConstraint('parcours', 'step', 'code', name=op.f('uq_piece_type_parcours_step_code'))
    )
    op.create_table('referentiel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("code IN ('dmn', 'sons_sas')", name=op.f('ck_referentiel_code')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referentiel')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_referentiel_code_version'))
    )
    op.create_table('webhook_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('received_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_event')),
    sa.UniqueConstraint('provider', 'event_id', name=op.f('uq_webhook_event_provider_event_id'))
    )
    op.create_table('delay_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('demarche_code', sa.String(length=32), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('working_days', sa.Boolean(), nullable=False),
    sa.Column('legal_basis', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['demarche_code'], ['demarche.code'], name=op.f('fk_delay_rule_demarche_code_demarche')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delay_rule')),
    sa.UniqueConstraint('demarche_code', 'step', name=op.f('uq_delay_rule_demarche_code_step'))
    )
    op.create_table('idempotency_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_idempotency_key_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_key')),
    sa.UniqueConstraint('organisation_id', 'key', name=op.f('uq_idempotency_key_organisation_id_key'))
    )
    op.create_table('profil',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referentiel_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('sections', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['referentiel_id'], ['referentiel.id'], name=op.f('fk_profil_referentiel_id_referentiel'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_profil')),
    sa.UniqueConstraint('referentiel_id', 'code', name=op.f('uq_profil_referentiel_id_code'))
    )
    op.create_table('referentiel_section',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referentiel_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['referentiel_id'], ['referentiel.id'], name=op.f('fk_referentiel_section_referentiel_id_referentiel'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referentiel_section')),
    sa.UniqueConstraint('referentiel_id', 'code', name=op.f('uq_referentiel_section_referentiel_id_code'))
    )
    op.create_table('product_evaluation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('questionnaire', sa.String(length=64), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('level', sa.String(length=200), nullable=True),
    sa.Column('criteria', sa.JSON(), nullable=False),
    sa.Column('updated_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_product_evaluation_product_id_product'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_evaluation')),
    sa.UniqueConstraint('product_id', 'questionnaire', name=op.f('uq_product_evaluation_product_id_questionnaire'))
    )
    op.create_table('referentiel_exigence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('section_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('expected_preuves', sa.JSON(), nullable=False),
    sa.Column('criticite', sa.String(length=32), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['section_id'], ['referentiel_section.id'], name=op.f('fk_referentiel_exigence_section_id_referentiel_section'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referentiel_exigence')),
    sa.UniqueConstraint('section_id', 'code', name=op.f('uq_referentiel_exigence_section_id_code'))
    )
    op.create_table('fichier',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=80), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('uploaded_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('uploaded_by_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_fichier_candidature_id_candidature'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_user_id'], ['user_account.id'], name=op.f('fk_fichier_uploaded_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fichier')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_fichier_storage_key'))
    )
    with op.batch_alter_table('fichier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fichier_candidature_id'), ['candidature_id'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('author_kind', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('event', sa.String(length=100), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('notified_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("author_kind IN ('systeme', 'industriel', 'ans')", name=op.f('ck_message_author_kind')),
    sa.CheckConstraint("kind IN ('automatique', 'message', 'note_interne')", name=op.f('ck_message_kind')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_message_author_id_user_account')),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_message_candidature_id_candidature'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_candidature', ['candidature_id', 'id'], unique=False)

    op.create_table('section_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', backoffice.db.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status <> 'en_revue' OR assignee_id IS NOT NULL", name=op.f('ck_section_review_held')),
    sa.CheckConstraint("status <> 'validee' OR decided_at IS NOT NULL", name=op.f('ck_section_review_decided')),
    sa.CheckConstraint("status IN ('a_completer', 'soumise', 'en_revue', 'validee', 'modifications_demandees')", name=op.f('ck_section_review_status')),
    sa.CheckConstraint('round >= 1', name=op.f('ck_section_review_round_positive')),
    sa.ForeignKeyConstraint(['assignee_id'], ['user_account.id'], name=op.f('fk_section_review_assignee_id_user_account')),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_section_review_candidature_id_candidature'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_section_review')),
    sa.UniqueConstraint('candidature_id', 'code', name=op.f('uq_section_review_candidature_id_code'))
    )
    with op.batch_alter_table('section_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_section_review_candidature_id'), ['candidature_id'], unique=False)

    op.create_table('step_form',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_step_form_candidature_id_candidature'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_step_form')),
    sa.UniqueConstraint('candidature_id', 'step', name=op.f('uq_step_form_candidature_id_step'))
    )
    op.create_table('candidature_exigence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('section_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('expected_preuves', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('declaration_non_applicable', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['section_id'], ['section_review.id'], name=op.f('fk_candidature_exigence_section_id_section_review'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_candidature_exigence')),
    sa.UniqueConstraint('section_id', 'code', name=op.f('uq_candidature_exigence_section_id_code'))
    )
    with op.batch_alter_table('candidature_exigence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidature_exigence_section_id'), ['section_id'], unique=False)

    op.create_table('convention',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('signature_request_id', sa.String(length=100), nullable=True),
    sa.Column('sent_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('signed_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('signed_fichier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_convention_candidature_id_candidature'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signed_fichier_id'], ['fichier.id'], name=op.f('fk_convention_signed_fichier_id_fichier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_convention')),
    sa.UniqueConstraint('candidature_id', name=op.f('uq_convention_candidature_id'))
    )
    with op.batch_alter_table('convention', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_convention_signature_request_id'), ['signature_request_id'], unique=False)

    op.create_table('message_attachment',
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('fichier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['fichier_id'], ['fichier.id'], name=op.f('fk_message_attachment_fichier_id_fichier'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_message_attachment_message_id_message'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', 'fichier_id', name=op.f('pk_message_attachment'))
    )
    op.create_table('piece',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('type_code', sa.String(length=64), nullable=False),
    sa.Column('fichier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('archived_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_piece_candidature_id_candidature'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['fichier_id'], ['fichier.id'], name=op.f('fk_piece_fichier_id_fichier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_piece'))
    )
    with op.batch_alter_table('piece', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_piece_candidature_id'), ['candidature_id'], unique=False)

    op.create_table('zip_pour_avis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('fichier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('superseded_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_zip_pour_avis_candidature_id_candidature'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['fichier_id'], ['fichier.id'], name=op.f('fk_zip_pour_avis_fichier_id_fichier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_zip_pour_avis'))
    )
    with op.batch_alter_table('zip_pour_avis', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zip_pour_avis_candidature_id'), ['candidature_id'], unique=False)

    op.create_table('avis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('zip_id', sa.Integer(), nullable=False),
    sa.Column('exigence_code', sa.String(length=32), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_avis_author_id_user_account')),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_avis_candidature_id_candidature'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['zip_id'], ['zip_pour_avis.id'], name=op.f('fk_avis_zip_id_zip_pour_avis')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avis'))
    )
    with op.batch_alter_table('avis', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_avis_candidature_id'), ['candidature_id'], unique=False)

    op.create_table('exigence_verdict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exigence_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', backoffice.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("verdict <> 'non_conforme' OR (comment IS NOT NULL AND comment <> '')", name=op.f('ck_exigence_verdict_non_conforme_has_comment')),
    sa.CheckConstraint("verdict IN ('conforme', 'non_conforme', 'non_applicable')", name=op.f('ck_exigence_verdict_verdict')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_exigence_verdict_author_id_user_account')),
    sa.ForeignKeyConstraint(['exigence_id'], ['candidature_exigence.id'], name=op.f('fk_exigence_verdict_exigence_id_candidature_exigence'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exigence_verdict')),
    sa.UniqueConstraint('exigence_id', 'round', name=op.f('uq_exigence_verdict_exigence_id_round'))
    )
    op.create_table('preuve',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidature_id', sa.Integer(), nullable=False),
    sa.Column('exigence_id', sa.Integer(), nullable=False),
    sa.Column('fichier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('round_added', sa.Integer(), nullable=False),
    sa.Column('archived_at', backoffice.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('archived_round', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['candidature_id'], ['candidature.id'], name=op.f('fk_preuve_candidature_id_candidature'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['exigence_id'], ['candidature_exigence.id'], name=op.f('fk_preuve_exigence_id_candidature_exigence'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['fichier_id'], ['fichier.id'], name=op.f('fk_preuve_fichier_id_fichier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_preuve'))
    )
    with op.batch_alter_table('preuve', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_preuve_candidature_id'), ['candidature_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_preuve_exigence_id'), ['exigence_id'], unique=False)

    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('referentiel_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('profils', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('contact_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('email_opt_in', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_foreign_key(batch_op.f('fk_candidature_referentiel_id_referentiel'), 'referentiel', ['referentiel_id'], ['id'])

    with op.batch_alter_table('candidature_step', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', backoffice.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('remaining_days', sa.Float(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_candidature_step_paused_has_no_due_date'), 'paused_at IS NULL OR due_at IS NULL'
        )
    _append_only()


APPEND_ONLY_PG = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_no_update BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
"""

APPEND_ONLY_SQLITE = [
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only (UPDATE refused)'); END""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only (DELETE refused)'); END""",
]


def _append_only() -> None:
    """The application cannot change or remove audit rows (design.md, Audit)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_PG)
    else:
        for statement in APPEND_ONLY_SQLITE:
            op.execute(statement)


def _drop_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")


def downgrade() -> None:
    _drop_append_only()
    with op.batch_alter_table('candidature_step', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_candidature_step_paused_has_no_due_date'), type_='check')
        batch_op.drop_column('remaining_days')
        batch_op.drop_column('paused_at')

    with op.batch_alter_table('candidature', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_candidature_referentiel_id_referentiel'), type_='foreignkey')
        batch_op.drop_column('email_opt_in')
        batch_op.drop_column('contact_email')
        batch_op.drop_column('profils')
        batch_op.drop_column('referentiel_id')

    with op.batch_alter_table('preuve', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preuve_exigence_id'))
        batch_op.drop_index(batch_op.f('ix_preuve_candidature_id'))

    op.drop_table('preuve')
    op.drop_table('exigence_verdict')
    with op.batch_alter_table('avis', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_avis_candidature_id'))

    op.drop_table('avis')
    with op.batch_alter_table('zip_pour_avis', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zip_pour_avis_candidature_id'))

    op.drop_table('zip_pour_avis')
    with op.batch_alter_table('piece', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_piece_candidature_id'))

    op.drop_table('piece')
    op.drop_table('message_attachment')
    with op.batch_alter_table('convention', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_convention_signature_request_id'))

    op.drop_table('convention')
    with op.batch_alter_table('candidature_exigence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidature_exigence_section_id'))

    op.drop_table('candidature_exigence')
    op.drop_table('step_form')
    with op.batch_alter_table('section_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_section_review_candidature_id'))

    op.drop_table('section_review')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_candidature')

    op.drop_table('message')
    with op.batch_alter_table('fichier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fichier_candidature_id'))

    op.drop_table('fichier')
    op.drop_table('referentiel_exigence')
    op.drop_table('product_evaluation')
    op.drop_table('referentiel_section')
    op.drop_table('profil')
    op.drop_table('idempotency_key')
    op.drop_table('delay_rule')
    op.drop_table('webhook_event')
    op.drop_table('referentiel')
    op.drop_table('piece_type')
