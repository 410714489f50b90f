"""Automatic messages reach the vendor's contact by e-mail after commit, once, and only
when they agreed to it."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from pathlib import Path

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Message
from jobs.notifications import notifier_industriel


def _outbox(app) -> list[Path]:  # noqa: ANN001
    folder = Path(app.config["MAIL_OUTBOX_DIR"])
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def test_transition_emails_the_contact_after_commit(app, driver, product) -> None:  # noqa: ANN001
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
    assert notifier_industriel(message.id) is False  # safe to run twice: sent once
    assert len(_outbox(app)) == len(mails)


def test_no_email_without_consent(app, driver, product) -> None:  # noqa: ANN001
    for path in _outbox(app):
        path.unlink()
    candidature = driver.open(product, "dmn_pecan")
    driver.fill(candidature, "recevabilite")
    candidature.email_opt_in = False
    driver.submit(candidature, "recevabilite")
    db.commit()
    assert _outbox(app) == []
