"""Automatic messages reach the vendor's contact by e-mail after commit, once, and only
when they agreed to it."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from pathlib import Path

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Message, OutboxMail
from jobs.notifications import envoyer, vider


def _outbox(app) -> list[Path]:
    folder = Path(app.config["MAIL_OUTBOX_DIR"])
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def test_transition_emails_the_contact_after_commit(app, driver, product) -> None:
    for path in _outbox(app):
        path.unlink()
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.fill(candidature, "recevabilite")  # contact e-mail + consent
    driver.submit(candidature, "recevabilite")
    assert _outbox(app) == []  # nothing before the commit
    db.commit()
    mails = [message_from_bytes(p.read_bytes(), policy=default) for p in _outbox(app)]
    subjects = sorted(m["Subject"] for m in mails)
    assert f"[Convergence {candidature.reference}] Recevabilité : dossier soumis" in subjects
    assert all(m["To"] == "contact@editeur.example.fr" for m in mails)
    message = db.scalar(select(Message).where(Message.event == "form.soumise"))
    assert message.notified_at is not None
    row = db.scalar(select(OutboxMail).where(OutboxMail.message_id == message.id))
    assert row.status == "envoye"
    assert envoyer(row.id) is False  # safe to run twice: sent once
    assert len(_outbox(app)) == len(mails)


def test_mail_server_down_keeps_the_mail_for_later(app, driver, product, monkeypatch) -> None:
    from tests.test_issuance_crash import _free_port

    # a relay nobody listens on (tests/test_mail_relay.py talks to a real one)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", _free_port())
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.fill(candidature, "recevabilite")
    driver.submit(candidature, "recevabilite")
    db.commit()
    pending = db.scalars(select(OutboxMail).where(OutboxMail.status == "a_envoyer")).all()
    assert pending and all(r.attempts == 1 and "ConnectionRefusedError" in r.last_error
                           for r in pending)
    assert vider() == 0  # not due yet: backoff
    monkeypatch.undo()
    for row in pending:
        row.next_attempt_at = row.created_at
    db.commit()
    assert vider() == len(pending)
    assert all(r.status == "envoye" for r in db.scalars(select(OutboxMail)))


def test_no_email_without_consent(app, driver, product) -> None:
    for path in _outbox(app):
        path.unlink()
    candidature = driver.open(product, "dmn_pecan")
    driver.fill(candidature, "recevabilite")
    candidature.email_opt_in = False
    driver.submit(candidature, "recevabilite")
    db.commit()
    assert _outbox(app) == []
