"""flask create-api-token: the vendor portal's token for a fresh production, printed once,
kept as its SHA-256 only, audited like create-user, usable at once on the intake API."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import func, select

from backoffice.db import db
from backoffice.models import ApiToken, AuditEvent, Organisation
from tests.test_cli import cli_app, run  # noqa: F401 - the fresh-database fixture


def token_of(output: str) -> str:
    match = re.search(r"(cvg_[A-Za-z0-9_-]{40,})", output)
    assert match, output
    return match.group(1)


def test_a_token_for_a_new_organisation_is_printed_once_and_works(cli_app) -> None:  # noqa: F811
    result = run(cli_app, "create-api-token", "--organisation", "Careoptim", "--siret",
                 "12345678900011", "--contact-email", "contact@careoptim.example.fr",
                 "--name", "Portail Convergence")
    assert result.exit_code == 0, result.output
    raw = token_of(result.output)
    assert "Organisation créée : Careoptim" in result.output
    assert "ne sera plus jamais affiché" in result.output
    with cli_app.app_context():
        token = db.scalar(select(ApiToken))
        assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert token.prefix == raw[:10] and token.name == "Portail Convergence"
        assert raw not in str(db.scalars(select(AuditEvent.after)).all())  # never stored
        actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[-2:] == ["admin.organisation.creee", "admin.apitoken.cree"]
        assert db.scalar(select(Organisation)).siret == "12345678900011"
        db.remove()
    response = cli_app.test_client().get("/api/v1/candidatures",
                                         headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200, response.json
    wrong = cli_app.test_client().get("/api/v1/candidatures",
                                      headers={"Authorization": f"Bearer {raw}x"})
    assert wrong.status_code == 401


def test_a_second_token_reuses_the_organisation(cli_app) -> None:  # noqa: F811
    first = token_of(run(cli_app, "create-api-token", "--organisation", "Careoptim",
                         "--name", "Portail").output)
    again = run(cli_app, "create-api-token", "--organisation", "Careoptim", "--name",
                "Portail (secours)")
    assert "Organisation créée" not in again.output
    assert token_of(again.output) != first
    with cli_app.app_context():
        assert db.scalar(select(func.count()).select_from(Organisation)) == 1
        assert db.scalar(select(func.count()).select_from(ApiToken)) == 2
        db.remove()


@pytest.mark.parametrize(("args", "message"), [
    (["--organisation", "Careoptim", "--siret", "123", "--name", "P"], "14 chiffres"),
    (["--organisation", "  ", "--name", "P"], "obligatoires"),
    (["--organisation", "Autre", "--siret", "12345678900011", "--name", "P"],
     "est celui de « Careoptim »"),
])
def test_bad_input_is_refused_in_french_and_creates_nothing(cli_app, args, message) -> None:  # noqa: F811
    run(cli_app, "create-api-token", "--organisation", "Careoptim", "--siret",
        "12345678900011", "--name", "Portail")
    result = run(cli_app, "create-api-token", *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output
    with cli_app.app_context():
        assert db.scalar(select(func.count()).select_from(ApiToken)) == 1
        assert db.scalar(select(func.count()).select_from(Organisation)) == 1
        db.remove()


def test_two_organisations_of_one_name_need_the_siret(cli_app) -> None:  # noqa: F811
    with cli_app.app_context():
        db.add_all([Organisation(name="Homonyme", siret="11111111100011"),
                    Organisation(name="Homonyme", siret="22222222200022")])
        db.commit()
        db.remove()
    ambiguous = run(cli_app, "create-api-token", "--organisation", "Homonyme", "--name", "P")
    assert ambiguous.exit_code != 0 and "précisez --siret" in ambiguous.output
    chosen = run(cli_app, "create-api-token", "--organisation", "Homonyme", "--siret",
                 "22222222200022", "--name", "P")
    assert chosen.exit_code == 0, chosen.output
    with cli_app.app_context():
        token = db.scalar(select(ApiToken))
        assert token.organisation.siret == "22222222200022"
        db.remove()
