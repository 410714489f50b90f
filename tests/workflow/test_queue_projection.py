"""The queue fields a candidature keeps of its current step (queue_since, queue_status,
queue_assignee_id, queue_due_at) must equal the step's, after whatever the workflow did:
the demo seed drives every démarche through every step on a simulated clock."""

from __future__ import annotations

from sqlalchemy import func, select

from backoffice.db import db
from backoffice.models import Candidature, SectionReview
from backoffice.models.candidature import FAR_FUTURE, turn_of
from backoffice.seed import TARGETS, seed
from backoffice.workflow import assignment


def _mismatches() -> list[tuple]:
    db.expire_all()
    wrong = []
    for candidature in db.scalars(select(Candidature)):
        step = candidature.current
        waiting = db.scalar(select(func.count()).select_from(SectionReview).where(
            SectionReview.candidature_id == candidature.id,
            SectionReview.status.in_(("soumise", "en_revue")))) > 0
        expected = (step.submitted_at or step.opened_at or candidature.created_at,
                    step.status, step.assignee_id, step.due_at or FAR_FUTURE,
                    turn_of(step.status, waiting))
        actual = (candidature.queue_since, candidature.queue_status,
                  candidature.queue_assignee_id, candidature.queue_due_at,
                  candidature.queue_turn)
        if expected != actual:
            wrong.append((candidature.reference, candidature.current_step, expected, actual))
    return wrong


def test_every_transition_keeps_the_queue_fields(ctx) -> None:
    credentials = seed(candidatures=len(TARGETS) * 2)
    db.flush()
    count = db.scalar(select(Candidature.id).limit(1))
    assert count is not None
    assert _mismatches() == []
    # an assignment handed over, then released, is seen at once
    candidature = db.scalar(select(Candidature).where(
        Candidature.queue_status == "en_instruction").limit(1))
    assert candidature is not None, credentials
    holder = candidature.current.assignee
    assignment.liberer(candidature, actor=holder)
    db.flush()
    assert candidature.queue_assignee_id is None
    assert _mismatches() == []
