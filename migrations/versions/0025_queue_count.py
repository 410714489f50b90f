"""The home page's counts kept by the transactions (issue 19, item 2)

queue_count holds, per place in the queues (démarche, step, whose turn, assigned or not,
due day), how many candidatures in progress stand there; every flush that moves one
updates it (backoffice/models/queue_count.py). Filled here from the candidatures.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'queue_count',
        sa.Column('demarche_code', sa.String(length=32), nullable=False),
        sa.Column('current_step', sa.String(length=32), nullable=False),
        sa.Column('queue_turn', sa.String(length=16), nullable=False),
        sa.Column('assigned', sa.Boolean(), nullable=False),
        sa.Column('due_day', sa.Date(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('demarche_code', 'current_step', 'queue_turn', 'assigned',
                                'due_day', name=op.f('pk_queue_count')),
    )
    bind = op.get_bind()
    day = ("date(timezone('UTC', queue_due_at))" if bind.dialect.name == 'postgresql'
           else "date(queue_due_at)")
    # `day` is one of the two constant expressions above
    op.execute(
        "INSERT INTO queue_count (demarche_code, current_step, queue_turn, assigned, due_day, n) "  # noqa: S608
        f"SELECT demarche_code, current_step, coalesce(queue_turn, ''), "
        f"queue_assignee_id IS NOT NULL, {day}, count(*) FROM candidature "
        "WHERE status = 'en_cours' "
        f"GROUP BY demarche_code, current_step, coalesce(queue_turn, ''), "
        f"queue_assignee_id IS NOT NULL, {day}")


def downgrade() -> None:
    op.drop_table('queue_count')
