"""Log lines (issue 14, item 7): JSON lines with the request's fields in production,
readable lines otherwise, INFO kept, SQL statements and their parameters never logged,
tokens masked as a last net. This module's app has a view that logs, in JSON (conftest's
client, ctx and connection use it)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from backoffice import create_app, logs
from backoffice.auth.access import public
from backoffice.db import make_engine
from tests.conftest import base_config
from tests.factories import UserFactory
from tests.helpers import login


@pytest.fixture(scope="module")
def app(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("logging")
    app = create_app({**base_config(tmp, engine.url.render_as_string(hide_password=False)),
                      "LOG_FORMAT": "json"})
    app.extensions["db_engine"].dispose()
    app.extensions["db_engine"] = engine

    @public
    def noisy():
        logging.getLogger("backoffice.essai").warning("quelque chose à signaler : %s", 42)
        return {"ok": True}

    app.add_url_rule("/_essai/journal", "essai_journal", noisy)
    yield app
    logs.configure("text")  # the other modules' apps log in text


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_production_logs_are_json_lines_with_the_request_fields(client, ctx, capsys) -> None:
    logs.configure("json")
    user = UserFactory(roles=["verificateur"])
    login(client, user)
    capsys.readouterr()
    response = client.get("/_essai/journal")
    records = [r for r in _lines(capsys.readouterr().err) if r["logger"] == "backoffice.essai"]
    assert len(records) == 1
    record = records[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.pop("timestamp"))
    assert record == {"level": "WARNING", "logger": "backoffice.essai",
                      "message": "quelque chose à signaler : 42",
                      "request_id": response.headers["X-Request-ID"], "user_id": user.id,
                      "route": "essai_journal", "method": "GET", "path": "/_essai/journal",
                      "remote_addr": "127.0.0.1"}


def test_an_exception_is_one_json_line_with_its_traceback(capsys) -> None:
    logs.configure("json")
    try:
        raise ValueError("boum")
    except ValueError:
        logging.getLogger("backoffice.essai").exception("échec")
    [record] = _lines(capsys.readouterr().err)
    assert record["level"] == "ERROR" and record["message"] == "échec"
    assert record["exception"].startswith("Traceback") and "ValueError: boum" in \
        record["exception"]
    assert "request_id" not in record  # outside a request: no request fields


def test_development_logs_are_readable_lines(client, ctx, capsys) -> None:
    logs.configure("text")
    response = client.get("/_essai/journal")
    [line] = [line for line in capsys.readouterr().err.splitlines()
              if "backoffice.essai" in line]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING backoffice\.essai: quelque chose à "
        r"signaler : 42 \[request_id=" + response.headers["X-Request-ID"] + r"\]", line)


def test_info_is_kept_and_sql_statements_are_not_logged(ctx, capsys) -> None:
    from sqlalchemy import text

    logs.configure("text")
    logging.getLogger("backoffice.essai").info("information gardée")
    ctx.execute(text("SELECT 1"))
    err = capsys.readouterr().err
    assert "information gardée" in err
    assert "SELECT 1" not in err


def test_tokens_are_masked_if_they_ever_reach_a_message() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1,
                               "en-tête reçu : Authorization: Bearer %s ; jeton %s",
                               ("abcdef0123456789", "cvg_AbCdEf0123456789xyz"), None)
    for formatter in (logs.JsonFormatter(), logs.TextFormatter()):
        line = formatter.format(record)
        assert "abcdef0123456789" not in line and "cvg_AbCdEf0123456789xyz" not in line
        assert "Bearer ***" in line and "cvg_***" in line


def test_the_engine_hides_statement_parameters(ctx) -> None:
    """A failing statement's error (and so its traceback in a log) never carries its
    parameters: on both tiers, the application's own engine."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError, StatementError

    assert make_engine("sqlite://").hide_parameters
    assert ctx.get_bind().engine.hide_parameters
    with pytest.raises((DBAPIError, StatementError)) as error:
        ctx.execute(text("SELECT * FROM table_absente WHERE code = :code"),
                    {"code": "valeur-secrete-1234"})
    ctx.rollback()
    assert "valeur-secrete-1234" not in str(error.value)
    assert "SQL parameters hidden" in str(error.value)
