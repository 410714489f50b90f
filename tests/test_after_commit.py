"""after_commit: the work waits for the commit of the transaction it was registered in, and
is dropped with its rollback — even when nothing had begun a transaction yet."""

from __future__ import annotations

from backoffice.db import db
from backoffice.tasks import after_commit


def test_registered_before_any_query_then_rolled_back_never_runs(app, connection) -> None:
    ran: list[str] = []
    with app.app_context():
        db.remove()  # a fresh session: no transaction begun
        after_commit(ran.append, "dropped")
        db.rollback()
        db.commit()  # an unrelated, later commit
        assert ran == []
        after_commit(ran.append, "kept")
        db.commit()
        assert ran == ["kept"]
        db.remove()
