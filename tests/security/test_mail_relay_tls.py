"""The SMTP relay's certificate is verified (issue 14): a relay presenting a self-signed
certificate, or one for another name, gets no mail — the mail stays queued with the
error — whether with STARTTLS or SMTPS; a relay whose CA is trusted through MAIL_CA_FILE
and whose certificate names the configured host gets it. A relay that does not offer
STARTTLS when it is required gets nothing in clear."""

from __future__ import annotations

import pytest

from backoffice.db import db
from jobs.notifications import send_due
from tests import test_mail_relay
from tests.mailserver import SmtpServer, issue, make_ca, self_signed
from tests.test_mail_relay import add_mails, rows

# the database and application of tests/test_mail_relay.py
relay_module_app = test_mail_relay.relay_module_app
relay_app = test_mail_relay.relay_app

HOST = "localhost"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smtp-tls")
    ca, ca_cert, ca_key = make_ca(folder)
    return {
        "ca": ca,
        "right": issue(folder, "right", [HOST, "127.0.0.1"], ca_cert, ca_key),
        "other_name": issue(folder, "other", ["smtp.autre.example"], ca_cert, ca_key),
        "self_signed": self_signed(folder, "self", ["smtp.autre.example"]),
        "self_signed_right_name": self_signed(folder, "self-right", [HOST, "127.0.0.1"]),
    }


def _configure(app, monkeypatch, mode: str, ca=None) -> None:
    monkeypatch.setitem(app.config, "MAIL_SERVER", HOST)
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", mode == "starttls")
    monkeypatch.setitem(app.config, "MAIL_USE_SSL", mode == "smtps")
    monkeypatch.setitem(app.config, "MAIL_CA_FILE", str(ca.cert) if ca else None)


def _send_one(app):
    add_mails(app, 1)
    with app.app_context():
        report = send_due()
        db.remove()
    return report


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
@pytest.mark.parametrize("presented", ["self_signed", "self_signed_right_name", "other_name"])
def test_an_unverifiable_relay_gets_no_mail(relay_app, certificates, monkeypatch, mode,
                                            presented) -> None:
    # the CA is trusted: "other_name" fails on the host name alone
    _configure(relay_app, monkeypatch, mode, ca=certificates["ca"])
    with SmtpServer(relay_app.config["MAIL_PORT"], mode=mode,
                    certificate=certificates[presented]) as server:
        report = _send_one(relay_app)
    assert server.received == []
    assert (report.sent, report.failed) == (0, 1)
    [row] = rows(relay_app)
    assert row.status == "a_envoyer" and row.attempts == 1 and row.sent_at is None
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error, row.last_error
    expected = "Hostname mismatch" if presented == "other_name" else "self-signed certificate"
    assert expected in row.last_error


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_the_system_store_alone_does_not_trust_a_private_ca(relay_app, certificates,
                                                            monkeypatch, mode) -> None:
    _configure(relay_app, monkeypatch, mode, ca=None)
    with SmtpServer(relay_app.config["MAIL_PORT"], mode=mode,
                    certificate=certificates["right"]) as server:
        report = _send_one(relay_app)
    assert server.received == [] and report.failed == 1
    assert "CERTIFICATE_VERIFY_FAILED" in rows(relay_app)[0].last_error


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_a_relay_whose_ca_is_trusted_gets_the_mail(relay_app, certificates, monkeypatch,
                                                   mode) -> None:
    _configure(relay_app, monkeypatch, mode, ca=certificates["ca"])
    with SmtpServer(relay_app.config["MAIL_PORT"], mode=mode,
                    certificate=certificates["right"]) as server:
        report = _send_one(relay_app)
    assert (report.sent, report.failed) == (1, 0)
    assert len(server.received) == 1
    [row] = rows(relay_app)
    assert row.status == "envoye" and row.attempts == 1


def test_no_mail_in_clear_when_starttls_is_required_but_not_offered(relay_app, certificates,
                                                                   monkeypatch) -> None:
    _configure(relay_app, monkeypatch, "starttls", ca=certificates["ca"])
    with SmtpServer(relay_app.config["MAIL_PORT"], mode="plain") as server:
        report = _send_one(relay_app)
    assert server.received == [] and report.failed == 1
    assert "STARTTLS" in rows(relay_app)[0].last_error
