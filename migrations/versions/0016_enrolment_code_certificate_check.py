"""One-time enrolment code after a second-factor reset; a check part on certificate numbers

Issue 15, finding 9. The account gets the hash and expiry of the enrolment code an
administrator's reset issues. Every certificate number gets a random check part
(ANS-DMN-2026-000123 -> ANS-DMN-2026-000123-K7QXM) so that /verify can no longer be walked
number by number; the migration keeps its own copy of the alphabet (as the application,
backoffice/certificates.py).

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import re
import secrets

import sqlalchemy as sa
from alembic import op

from backoffice.db import UTCDateTime

revision = '0016'
down_revision = '0013'
branch_labels = None
depends_on = None

CHECK_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CHECK_LENGTH = 5
WITHOUT_CHECK = re.compile(r"^ANS-(DMN|SAS)-\d{4}-\d{6,}$")
WITH_CHECK = re.compile(r"^(ANS-(DMN|SAS)-\d{4}-\d{6,})-[A-Z0-9]{5}$")


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enrolment_code_hash', sa.String(length=64),
                                      nullable=True))
        batch_op.add_column(sa.Column('enrolment_code_expires_at', UTCDateTime(timezone=True),
                                      nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, number FROM certificat")).all()
    updates = [{"i": i, "n": f"{n}-{''.join(secrets.choice(CHECK_ALPHABET) for _ in range(CHECK_LENGTH))}"}
               for i, n in rows if WITHOUT_CHECK.match(n)]
    if updates:
        bind.execute(sa.text("UPDATE certificat SET number = :n WHERE id = :i"), updates)


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, number FROM certificat")).all()
    updates = [{"i": i, "n": m.group(1)} for i, n in rows if (m := WITH_CHECK.match(n))]
    if updates:
        bind.execute(sa.text("UPDATE certificat SET number = :n WHERE id = :i"), updates)
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('enrolment_code_expires_at')
        batch_op.drop_column('enrolment_code_hash')
