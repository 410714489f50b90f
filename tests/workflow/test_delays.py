"""Due dates: calendar or working days (French public holidays), paused while the vendor
has the file, resumed with what was left; days left in SQL for sorting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backoffice.db import db, utcnow
from backoffice.models import Candidature, CandidatureStep, DelayRule, Demarche
from backoffice.workflow import delays, forms
from backoffice.workflow.campaigns import WindowClosed
from tests.factories import CandidatureFactory

PARIS_NOON = datetime(2026, 12, 23, 11, 0, tzinfo=UTC)  # Wednesday 23 December, 12:00 Paris


def test_working_days_skip_weekends_and_french_holidays() -> None:
    # Thu 24, Fri 25 (Noël, holiday), Sat, Sun, Mon 28, Tue 29 -> 3 working days = Tue 29
    assert delays.add_days(PARIS_NOON, 3, working=True) == datetime(2026, 12, 29, 11, 0,
                                                                     tzinfo=UTC)
    # 1er janvier and 8 mai are holidays too
    assert not delays.is_working_day(datetime(2027, 1, 1, 12, tzinfo=UTC))
    assert not delays.is_working_day(datetime(2027, 5, 8, 12, tzinfo=UTC))
    assert delays.is_working_day(datetime(2027, 1, 4, 12, tzinfo=UTC))


def test_calendar_days_count_every_day() -> None:
    assert delays.add_days(PARIS_NOON, 3, working=False) == PARIS_NOON + timedelta(days=3)


def test_days_between_inverts_add_days() -> None:
    end = delays.add_days(PARIS_NOON, 10, working=True)
    assert delays.days_between(PARIS_NOON, end, working=True) == pytest.approx(10)
    assert delays.days_between(end, PARIS_NOON, working=True) == pytest.approx(-10)


def test_clock_pauses_for_complements_and_resumes_with_what_was_left(driver, product) -> None:
    rule = db.scalar(select(DelayRule).where(DelayRule.demarche_code == "dmn_nom_de_marque",
                                             DelayRule.step == "recevabilite"))
    rule.days, rule.working_days = 30, False
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.fill(candidature, "recevabilite")
    driver.submit(candidature, "recevabilite")
    step = candidature.step("recevabilite")
    assert step.due_at == step.submitted_at + timedelta(days=30)
    driver.take(candidature, "recevabilite")
    # ten days later the vérificateur asks for compléments
    step.due_at -= timedelta(days=10)
    forms.demander_complements(candidature, "recevabilite", actor=driver.verificateur,
                               message="Pièce manquante")
    assert step.due_at is None and step.paused_at is not None
    assert step.remaining_days == pytest.approx(20, abs=0.01)
    driver.submit(candidature, "recevabilite")
    assert step.status == "soumise" and step.assignee == driver.verificateur
    assert step.paused_at is None
    assert (step.due_at - utcnow()).total_seconds() / 86400 == pytest.approx(20, abs=0.01)


def test_days_left_sorts_in_sql(ctx) -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    due = {"late": now - timedelta(days=2), "soon": now + timedelta(days=1, hours=12),
           "later": now + timedelta(days=40)}
    refs = {}
    for name, at in due.items():
        candidature = CandidatureFactory(status_at_step="soumise")
        candidature.step("recevabilite").due_at = at
        refs[candidature.reference] = name
    db.flush()
    rows = db.execute(
        select(Candidature.reference, delays.days_left_expr(now))
        .join(CandidatureStep, (CandidatureStep.candidature_id == Candidature.id)
              & (CandidatureStep.step == "recevabilite"))
        .where(Candidature.reference.in_(list(refs)))
        .order_by(delays.days_left_expr(now))
    ).all()
    assert [refs[r] for r, _ in rows] == ["late", "soon", "later"]
    assert [round(d, 1) for _, d in rows] == [-2.0, 1.5, 40.0]


def test_submission_after_the_campaign_closes_is_refused(driver, product) -> None:
    candidature = driver.open(product, "dmn_pect")
    driver.fill(candidature, "recevabilite")
    window = candidature.campaign_window
    window.opens_at = datetime(2023, 9, 1, tzinfo=UTC)
    window.closes_at = datetime(2023, 12, 14, 13, 0, tzinfo=UTC)
    with pytest.raises(WindowClosed) as error:
        driver.submit(candidature, "recevabilite")
    assert error.value.code == "campaign_closed"
    assert "fermé depuis le 14 décembre 2023 14:00 (heure de Paris)" in error.value.message
    assert candidature.step("recevabilite").status == "brouillon"


def test_opening_outside_any_window_is_refused(driver, product) -> None:
    for window in db.get(Demarche, "sons_sas").windows:
        window.closes_at = datetime(2024, 1, 1, tzinfo=UTC)
        window.opens_at = datetime(2023, 1, 1, tzinfo=UTC)
    with pytest.raises(WindowClosed, match="1er janvier 2024 01:00"):
        driver.open(product, "sons_sas")


def test_what_was_left_never_ends_on_a_week_end() -> None:
    """Half a working day left, resumed on Friday 15:00 (Paris): the due date is Monday,
    not Saturday 03:00, where a working-day delay would count for nothing."""
    friday = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
    due = delays.add_days(friday, 0.5, working=True)
    assert delays.is_working_day(due)
    assert due.astimezone(delays.PARIS).strftime("%A") == "Monday"
    assert delays.days_between(friday, due, working=True) == pytest.approx(0.5, abs=0.01)
    # whole days are unchanged: three working days from Wednesday 23 December is Tuesday 29
    assert delays.add_days(PARIS_NOON, 3, working=True).day == 29


def test_a_step_waiting_on_compléments_has_its_clock_paused(driver, ctx) -> None:
    """The demo and the factories place candidatures directly (seed.place_at_step): a
    step waiting on the vendor's compléments is paused with what was left, as the
    workflow leaves it, so that its resubmission resumes the clock instead of keeping a
    due date that ran on while the vendor had the file."""
    candidature = CandidatureFactory(status_at_step="complements_demandes")
    step = candidature.step(candidature.current_step)
    assert step.status == "complements_demandes"
    assert step.due_at is None and step.paused_at is not None
    assert 0 < step.remaining_days <= 60
    left = step.remaining_days
    delays.resume_clock(step, candidature.demarche_code, utcnow())
    assert step.resumed_at is not None and step.paused_at is None
    assert (step.due_at - step.resumed_at).total_seconds() / 86400 == pytest.approx(left)
