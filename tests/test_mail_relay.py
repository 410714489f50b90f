"""E-mail to a real SMTP server (aiosmtpd): the headers a relay expects, one connection
per batch, a relay that is down or refuses a recipient, `send-mails`' exit code, and two
senders at once that never send a mail twice. Each test has a database of its own: the
senders commit, as in production."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import delete, select

from backoffice import create_app
from backoffice.db import db, utcnow
from backoffice.models import OutboxMail
from jobs.notifications import message_id, send_due
from tests.conftest import BACKENDS, base_config, fresh_database_url
from tests.mailserver import SmtpServer
from tests.test_issuance_crash import _free_port

SENDER = "Convergence <ne-pas-repondre@convergence.sante.example>"


@pytest.fixture(scope="module", params=BACKENDS)
def relay_module_app(request, tmp_path_factory):
    """One database per backend for the module (migrating one takes seconds)."""
    tmp = tmp_path_factory.mktemp(f"mails-{request.param}")
    url = fresh_database_url(request.param, tmp, "mails")
    app = create_app({**base_config(tmp, url), "MAIL_SERVER": "127.0.0.1",
                      "MAIL_PORT": _free_port(), "MAIL_DEFAULT_SENDER": SENDER})
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def relay_app(relay_module_app, monkeypatch):
    """The module's application, its outbox empty, its settings restored after the test."""
    with relay_module_app.app_context():
        db.execute(delete(OutboxMail))
        db.commit()
    for name in ("MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_CA_FILE"):
        monkeypatch.setitem(relay_module_app.config, name, None)
    return relay_module_app


def add_mails(app, count: int, **values) -> list[int]:
    with app.app_context():
        rows = [OutboxMail(recipient=f"contact{i}@editeur.example.fr", subject=f"Objet {i}",
                           body=f"Bonjour {i}", **values) for i in range(count)]
        db.add_all(rows)
        db.commit()
        return [row.id for row in rows]


def rows(app) -> list[OutboxMail]:
    with app.app_context():
        found = list(db.scalars(select(OutboxMail).order_by(OutboxMail.id)))
        db.expunge_all()
        return found


def test_mails_carry_date_and_a_message_id_stable_across_retries(relay_app) -> None:
    first, second = add_mails(relay_app, 2)
    with relay_app.app_context():  # nobody listens yet: both fail, and stay queued
        report = send_due()
    assert (report.sent, report.failed) == (0, 2)
    for row in rows(relay_app):
        assert row.status == "a_envoyer" and row.attempts == 1 and row.last_error
        assert row.next_attempt_at > utcnow() + timedelta(seconds=30)  # backoff
    with relay_app.app_context():  # due again
        for row in db.scalars(select(OutboxMail)):
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.commit()
    with SmtpServer(relay_app.config["MAIL_PORT"]) as server, relay_app.app_context():
        report = send_due()
    assert (report.sent, report.failed) == (2, 0)
    by_id = {row.id: row for row in rows(relay_app)}
    received = {mail["Message-ID"]: mail for mail in server.received}
    for row_id in (first, second):
        row = by_id[row_id]
        assert row.status == "envoye" and row.attempts == 2 and row.last_error is None
        # the identifier of the first attempt, in the sender's domain
        expected = message_id(row.id, row.created_at, SENDER)
        assert expected.endswith("@convergence.sante.example>")
        mail = received[expected]
        assert mail["To"] == row.recipient and mail["Subject"] == row.subject
        sent_at = parsedate_to_datetime(mail["Date"])
        assert abs((sent_at - utcnow()).total_seconds()) < 60
    assert len(received) == 2  # one identifier per row


def test_one_connection_per_batch(relay_app) -> None:
    add_mails(relay_app, 40)
    with SmtpServer(relay_app.config["MAIL_PORT"]) as server, relay_app.app_context():
        assert send_due().sent == 40
        assert server.connections == 1
        add_mails(relay_app, 40)
        assert send_due(batch_size=15).sent == 40
    assert server.connections == 1 + 3
    assert len(server.received) == 80


def test_a_refused_recipient_fails_alone(relay_app) -> None:
    add_mails(relay_app, 3)
    with relay_app.app_context():
        bad = db.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()[1]
        bad.recipient = "inconnu@refuse.example"
        db.commit()
    with SmtpServer(relay_app.config["MAIL_PORT"], refuse={"inconnu@refuse.example"}) as server, \
            relay_app.app_context():
        report = send_due()
    assert (report.sent, report.failed) == (2, 1)
    assert server.connections == 1  # the refusal did not cost the others their connection
    assert "550" in report.errors[0]
    statuses = [(r.recipient, r.status) for r in rows(relay_app)]
    assert statuses[1] == ("inconnu@refuse.example", "a_envoyer")
    assert [s for _, s in statuses].count("envoye") == 2


def test_send_mails_exits_non_zero_and_lists_the_failures(relay_app) -> None:
    add_mails(relay_app, 3)
    result = relay_app.test_cli_runner().invoke(args=["send-mails"])  # the relay is down
    assert result.exit_code == 1
    assert "0 e-mail(s) envoyé(s), 3 en échec." in result.output
    failures = [line for line in result.stderr.splitlines() if line.startswith("  outbox ")]
    assert len(failures) == 3 and all("ConnectionRefusedError" in line for line in failures)
    assert all(r.status == "a_envoyer" and r.attempts == 1 for r in rows(relay_app))
    with relay_app.app_context():
        for row in db.scalars(select(OutboxMail)):
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.commit()
    with SmtpServer(relay_app.config["MAIL_PORT"]):
        result = relay_app.test_cli_runner().invoke(args=["send-mails"])
    assert result.exit_code == 0, result.output
    assert "3 e-mail(s) envoyé(s), 0 en échec." in result.output


def test_the_last_attempt_gives_up(relay_app) -> None:
    from jobs.notifications import MAX_ATTEMPTS

    add_mails(relay_app, 1, attempts=MAX_ATTEMPTS - 1)
    with relay_app.app_context():
        assert send_due().failed == 1
    [row] = rows(relay_app)
    assert row.status == "echec" and row.attempts == MAX_ATTEMPTS


@pytest.mark.postgresql
@pytest.mark.parametrize("relay_module_app", ["postgresql"], indirect=True)
def test_two_senders_at_once_send_each_mail_once(relay_app) -> None:
    """Two senders started together, on a slow relay, in small batches: they overlap,
    and the relay receives each of the 40 mails once."""
    ids = add_mails(relay_app, 40)
    start = threading.Barrier(2)
    reports: list = []

    def sender() -> None:
        with relay_app.app_context():
            start.wait()
            reports.append(send_due(batch_size=4))

    with SmtpServer(relay_app.config["MAIL_PORT"], delay=0.02) as server:
        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(server.received) == 40
    assert len({mail["Message-ID"] for mail in server.received}) == 40
    assert sorted(r.sent for r in reports) != [0, 40], "the senders did not overlap"
    assert sum(r.sent for r in reports) == 40 and sum(r.failed for r in reports) == 0
    assert {r.id for r in rows(relay_app) if r.status == "envoye"} == set(ids)
    assert all(r.attempts == 1 for r in rows(relay_app))
