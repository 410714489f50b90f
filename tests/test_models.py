"""The schema: migrations and models agree; constraints hold the codes of design.md."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import DataError, IntegrityError

from backoffice.db import Base
from backoffice.models import Candidature, CandidatureStep
from tests.factories import CandidatureFactory, ProductFactory, UserFactory


def test_migrations_and_models_agree(engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}),
            Base.metadata,
        )
    assert diff == [], "a model changed without its Alembic migration:\n" + "\n".join(
        map(str, diff)
    )


def test_the_comparison_would_see_a_missing_column(engine) -> None:
    """Guard for the test above: a column the migrations lack is reported."""
    from sqlalchemy import Column, Integer, MetaData

    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    metadata.tables["candidature"].append_column(Column("not_migrated", Integer))
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert any("not_migrated" in str(d) for d in diff)


def test_reference_is_nine_upper_case_letters(ctx) -> None:
    candidature = CandidatureFactory()
    assert len(candidature.reference) == 9
    assert candidature.reference.isalpha() and candidature.reference.isupper()


@pytest.mark.parametrize("bad", ["ABCDEFGH", "abcdefghi", "ABCDEFGHIJ"])
def test_database_refuses_a_malformed_reference(ctx, bad) -> None:
    candidature = CandidatureFactory()
    candidature.reference = bad
    # PostgreSQL refuses ten letters as too long for VARCHAR(9) (DataError), SQLite by CHECK.
    with pytest.raises((IntegrityError, DataError)), ctx.begin_nested():
        ctx.flush()


def test_references_are_unique(ctx) -> None:
    first = CandidatureFactory()
    second = CandidatureFactory()
    second.reference = first.reference
    with pytest.raises(IntegrityError), ctx.begin_nested():
        ctx.flush()


def test_product_label_follows_the_guide(ctx) -> None:
    product = ProductFactory(name="Careoptim", version="v0.1", number=883)
    assert product.label == "Careoptim - v0.1 - 883"


def test_decided_step_needs_a_decision_date(ctx) -> None:
    candidature = CandidatureFactory(at="recevabilite", status_at_step="en_instruction")
    step = candidature.step("recevabilite")
    step.status = "validee"
    with pytest.raises(IntegrityError), ctx.begin_nested():
        ctx.flush()


def test_step_in_instruction_needs_an_assignee(ctx) -> None:
    candidature = CandidatureFactory(at="recevabilite", status_at_step="soumise")
    candidature.step("recevabilite").status = "en_instruction"
    with pytest.raises(IntegrityError), ctx.begin_nested():
        ctx.flush()


def test_unknown_status_code_is_refused(ctx) -> None:
    candidature = CandidatureFactory()
    candidature.step("recevabilite").status = "acceptee"
    with pytest.raises(IntegrityError), ctx.begin_nested():
        ctx.flush()


def test_ended_candidature_needs_its_end_date(ctx) -> None:
    candidature = CandidatureFactory()
    candidature.status = "abandonnee"
    with pytest.raises(IntegrityError), ctx.begin_nested():
        ctx.flush()


def test_factory_places_a_candidature_at_a_step(ctx) -> None:
    decider = UserFactory()
    candidature = CandidatureFactory(
        demarche_code="sons_sas", at="eligibilite", status_at_step="en_instruction",
        deciders=[decider],
    )
    assert [s.step for s in candidature.steps] == [
        "depot", "eligibilite", "convention", "preuves", "referencement"]
    assert [s.status for s in candidature.steps] == [
        "validee", "en_instruction", "a_venir", "a_venir", "a_venir"]
    assert candidature.step("depot").decided_by == decider
    assert candidature.current.assignee is not None


def test_stale_candidature_write_is_detected(app, ctx, engine) -> None:
    """Optimistic lock: a second writer holding an old version loses."""
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.exc import StaleDataError

    candidature = CandidatureFactory()
    ctx.flush()
    other = Session(bind=ctx.connection(), join_transaction_mode="create_savepoint")
    theirs = other.get(Candidature, candidature.id)
    candidature.last_activity_at = candidature.last_activity_at.replace(microsecond=1)
    ctx.flush()  # version 1 -> 2
    theirs.last_activity_at = theirs.last_activity_at.replace(microsecond=2)
    with pytest.raises(StaleDataError):
        other.flush()
    other.close()


def test_step_rows_are_ordered(ctx) -> None:
    candidature = CandidatureFactory(at="preuves", status_at_step="en_cours")
    positions = [s.position for s in candidature.steps]
    assert positions == sorted(positions)
    assert isinstance(candidature.steps[0], CandidatureStep)
