"""The statuses and codes are typed once (workflow/definitions.py) and the database agrees:
every status has its row in the one table (label, colour, turn, decided), and the CHECK
constraints the migrations created hold exactly the codes of the code's enums (Alembic's
comparison of models and migrations does not look at CHECK constraints)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from backoffice.db import Base
from backoffice.workflow.definitions import (
    DECIDED_STATUSES,
    DEMARCHES,
    STATUSES,
    STEP_STATUSES,
    STEPS,
    CandidatureStatus,
    Parcours,
    SectionStatus,
    StepStatus,
    Turn,
    turn_of,
)

# (table, constraint name): the codes the application writes there
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("candidature_step", "status"): {s.value for s in StepStatus},
    ("candidature_step", "step"): set(STEPS),
    ("candidature_step", "decided"): set(DECIDED_STATUSES),
    ("candidature", "status"): {s.value for s in CandidatureStatus},
    ("candidature", "current_step"): set(STEPS),
    ("section_review", "status"): {s.value for s in SectionStatus},
    ("demarche", "code"): set(DEMARCHES),
    ("demarche", "parcours"): {p.value for p in Parcours},
}


def _codes(sqltext: str) -> set[str]:
    """The quoted codes of a CHECK: `status IN ('a', 'b')` (as created) or PostgreSQL's
    `(status)::text = ANY ((ARRAY['a'::character varying, …])::text[])` (as reflected)."""
    return set(re.findall(r"'([^']*)'", sqltext))


def database_checks(engine: Engine) -> dict[tuple[str, str], set[str]]:
    inspector = inspect(engine)
    found = {}
    for table in inspector.get_table_names():
        for check in inspector.get_check_constraints(table):
            name = (check.get("name") or "").removeprefix(f"ck_{table}_")
            found[(table, name)] = _codes(check["sqltext"])
    return found


def mismatches(engine: Engine, expected: dict[tuple[str, str], set[str]]) -> list[str]:
    database = database_checks(engine)
    problems = []
    for key, codes in expected.items():
        if key not in database:
            problems.append(f"{key}: no CHECK constraint in the database")
        elif database[key] != codes:
            problems.append(f"{key}: only in the code {sorted(codes - database[key])}, "
                            f"only in the database {sorted(database[key] - codes)}")
    return problems


def test_database_checks_hold_exactly_the_enums(engine) -> None:
    problems = mismatches(engine, EXPECTED)
    assert problems == [], "a code was added on one side only (enum or migration):\n" + \
        "\n".join(problems)


def test_database_checks_match_the_models(engine) -> None:
    """Every `one_of` of the models (codes of messages, files, certificates, séances…)
    has the same codes in the database: a model changed without its migration fails."""
    expected = {}
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            sqltext = getattr(constraint, "sqltext", None)
            if sqltext is not None and " IN (" in str(sqltext):
                expected[(table.name, str(constraint.name).removeprefix(
                    f"ck_{table.name}_"))] = _codes(str(sqltext))
    assert len(expected) >= 15
    assert mismatches(engine, expected) == []


@pytest.mark.parametrize("side", ["code", "database"])
def test_the_comparison_sees_a_status_added_on_one_side(engine, side) -> None:
    """Guard for the tests above: a status in the enum but not the migration (or the other
    way round) is reported, on this backend's reflection too."""
    expected = {key: set(codes) for key, codes in EXPECTED.items()}
    key = ("candidature_step", "status")
    if side == "code":
        expected[key].add("en_attente_de_paiement")
    else:
        expected[key].discard("a_venir")
    problems = mismatches(engine, expected)
    assert len(problems) == 1 and "candidature_step" in problems[0]


def test_every_status_has_its_row() -> None:
    codes = {s.value for s in StepStatus} | {s.value for s in SectionStatus}
    assert set(STATUSES) == codes
    used = {s.value for statuses in STEP_STATUSES.values() for s in statuses}
    assert used == {s.value for s in StepStatus}, "a step status no kind of step uses"
    for code, row in STATUSES.items():
        assert row.label and row.label[0].isupper(), code
        assert row.colour in (None, "info", "new", "warning", "success", "error"), code
        assert not (row.decided and row.turn is not None), f"{code}: decided, yet waiting"


def test_queue_turn_comes_from_the_table() -> None:
    assert turn_of("soumise") == "ans" and turn_of("complements_demandes") == "industriel"
    assert turn_of("en_cours", sections_waiting=True) == Turn.ans
    assert turn_of("en_cours", sections_waiting=False) == Turn.industriel
    assert turn_of("validee") is None
    with pytest.raises(KeyError):  # an unknown status is an error, never a silent None
        turn_of("nouveau_statut")
