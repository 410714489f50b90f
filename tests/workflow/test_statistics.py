"""Statistics: what the workflow records at each decision (the clock of the law, pauses
excluded), and the figures of /statistiques read from the aggregates equal to the same
figures computed naively from the raw tables, on journeys driven by the workflow."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from backoffice.db import db, simulated_clock, utcnow
from backoffice.models import Candidature, DelayRule, SectionReview, StatCurrent, StatWeekly
from backoffice.statistics import aggregate, naive, tables
from backoffice.statistics.common import month_of, week_end, week_of, week_start
from backoffice.statistics.facts import Filters, from_aggregates
from backoffice.workflow import college, forms, preuves
from backoffice.workflow.definitions import DEMARCHES
from tests.factories import ProductFactory

ALL = tuple(DEMARCHES)
FIGURES = ("stock", "stock_now", "retard_now", "ages", "leads", "tours", "exigences", "flux",
           "seances", "decisions", "attributions", "sorties")


def _filters(weeks: int = 26) -> Filters:
    return Filters.last_weeks(ALL, weeks)


def _assert_aggregates_equal_naive(filters: Filters) -> None:
    at = utcnow()
    aggregate.rafraichir(complet=True, at=at)
    aggregated, computed = from_aggregates(filters), naive.compute(filters, at)
    a, b = aggregated.normalised(), computed.normalised()
    for name in FIGURES:  # what only one side counts, figure by figure
        only_aggregated = getattr(a, name) - getattr(b, name)
        only_naive = getattr(b, name) - getattr(a, name)
        assert (name, only_aggregated, only_naive) == (name, {}, {})
    assert aggregated == computed


def _recevabilite_with_complements(driver, product, clock, *, before, paused, after):
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.fill(candidature, "recevabilite")
    driver.submit(candidature, "recevabilite")
    driver.take(candidature, "recevabilite")
    clock.advance(days=before)
    forms.demander_complements(candidature, "recevabilite", actor=driver.verificateur,
                               message="Pièce manquante")
    clock.advance(days=paused)
    driver.submit(candidature, "recevabilite")
    driver.take(candidature, "recevabilite")
    clock.advance(days=after)
    forms.valider(candidature, "recevabilite", actor=driver.verificateur)
    return candidature


def test_lead_time_leaves_out_the_pause_for_complements(driver, product) -> None:
    rule = db.scalar(select(DelayRule).where(DelayRule.demarche_code == "dmn_nom_de_marque",
                                             DelayRule.step == "recevabilite"))
    rule.days, rule.working_days = 30, False
    with simulated_clock(utcnow() - timedelta(days=60)) as clock:
        candidature = _recevabilite_with_complements(driver, product, clock,
                                                     before=5, paused=40, after=3)
    step = candidature.step("recevabilite")
    # 48 days in all, of which 40 with the vendor: the law counts 8
    assert step.paused_days == pytest.approx(40, abs=0.01)
    assert step.lead_days == pytest.approx(8, abs=0.01)
    assert step.within_delay is True
    _assert_aggregates_equal_naive(_filters())
    facts = from_aggregates(_filters())
    assert +facts.leads == {("dmn_nom_de_marque", "recevabilite", 8, True): 1}  # days begun


def test_overdue_decision_is_outside_the_delay(driver, product) -> None:
    with simulated_clock(utcnow() - timedelta(days=80)) as clock:
        candidature = _recevabilite_with_complements(driver, product, clock,
                                                     before=20, paused=5, after=15)
    step = candidature.step("recevabilite")
    assert step.lead_days == pytest.approx(35, abs=0.01)  # 20 + 15, the delay is 30
    assert step.within_delay is False
    _assert_aggregates_equal_naive(_filters())
    table = tables.delais(from_aggregates(_filters()), _filters())
    row = next(r for r in table.rows if r[1] == "Recevabilité")
    assert row[2:] == [1, 35, 35, "30 j", 0.0]


def test_reopened_section_counts_its_rounds_and_figures_equal_naive(driver, product) -> None:
    with simulated_clock(utcnow() - timedelta(days=120)) as clock:
        driver.tick = lambda: clock.advance(days=2)
        candidature = driver.open(product, "dmn_nom_de_marque")
        driver.drive(candidature, "college", complements=True, modifications=True)
        first = driver.sections(candidature)[0]
        assert first.round == 2  # one request for modifications
        college.inscrire(candidature, actor=driver.college_member)
        college.ajourner(candidature, actor=driver.college_member, motif="Preuve illisible",
                         sections=[first.code])
        clock.advance(days=4)
        preuves.soumettre_section(candidature, first.code, actor=driver.industriel)
        driver.review_section(candidature, first)
    section = db.get(SectionReview, first.id)
    assert section.status == "validee" and section.round == 3
    filters = _filters()
    _assert_aggregates_equal_naive(filters)
    facts = from_aggregates(filters)
    assert facts.tours[(first.code, 3)] == 1
    assert facts.exigences[(first.exigences[0].code, "V1", "nc")] == 1
    # a candidature in progress at the collège, its clock stopped while ajournée
    assert facts.stock_now["college"] == 1


def test_incremental_run_keeps_old_weeks_and_recounts_recent_ones(driver, organisation) -> None:
    filters = _filters(52)
    with simulated_clock(utcnow() - timedelta(days=150)) as clock:
        driver.tick = lambda: clock.advance(days=3)
        for _ in range(3):
            candidature = driver.open(ProductFactory(organisation=organisation), "dmn_pecan")
            driver.drive(candidature, "preuves", complements=True)
    aggregate.rafraichir(complet=True)
    old = db.scalar(select(StatWeekly.id).order_by(StatWeekly.week).limit(1))
    # more work this week, then the 15-minute run
    candidature = driver.open(ProductFactory(organisation=organisation), "dmn_pect")
    driver.fill(candidature, "recevabilite")
    driver.submit(candidature, "recevabilite")
    at = utcnow()
    aggregate.rafraichir(at=at)
    assert db.get(StatWeekly, old) is not None  # older weeks were not recounted
    assert from_aggregates(filters) == naive.compute(filters, at)


def test_seed_like_history_equals_naive(ctx) -> None:
    """Every démarche, every step and status the demo reaches, months of history."""
    from backoffice import seed

    seed.seed(candidatures=len(seed.TARGETS))
    assert db.scalar(select(Candidature.id).where(Candidature.status != "en_cours").limit(1))
    for weeks in (8, 26):
        for demarches in (ALL, ("sons_sas",), ("dmn_nom_de_marque", "dmn_pecan")):
            filters = Filters.last_weeks(demarches, weeks)
            _assert_aggregates_equal_naive(filters)


@pytest.mark.parametrize(("at", "monday"), [
    # winter (UTC+1): Sunday 23:30 UTC is Monday 00:30 in Paris
    (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), date(2026, 11, 23)),
    (datetime(2026, 11, 22, 22, 59, tzinfo=UTC), date(2026, 11, 16)),
    # summer (UTC+2): Sunday 22:30 UTC is Monday 00:30 in Paris
    (datetime(2026, 6, 21, 22, 30, tzinfo=UTC), date(2026, 6, 22)),
    (datetime(2026, 6, 21, 21, 59, tzinfo=UTC), date(2026, 6, 15)),
    # a naive time (SQLite) is UTC, whatever the server's zone
    (datetime(2026, 11, 22, 23, 30), date(2026, 11, 23)),
    # the week of the change to summer time: Monday 30 March begins at 22:00 UTC on Sunday
    (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), date(2026, 3, 30)),
])
def test_a_week_begins_on_monday_at_midnight_in_paris(at, monday) -> None:
    assert week_of(at) == monday
    assert week_start(monday) <= at.replace(tzinfo=UTC) < week_start(monday + timedelta(days=7))


def test_week_bounds_and_months_are_those_of_paris() -> None:
    assert week_start(date(2026, 11, 23)) == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert week_start(date(2026, 6, 22)) == datetime(2026, 6, 21, 22, 0, tzinfo=UTC)
    far = datetime(2030, 1, 1, tzinfo=UTC)
    assert week_end(date(2026, 11, 16), far) == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    # the week in progress is cut at the time of the count
    now = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    assert week_end(date(2026, 11, 16), now) == now
    # 31 October 23:30 UTC is already November in Paris
    assert month_of(datetime(2026, 10, 31, 23, 30, tzinfo=UTC)) == date(2026, 11, 1)


def test_weekly_figures_are_cut_at_monday_midnight_in_paris(driver, organisation) -> None:
    """Two candidatures opened half an hour either side of Monday 00:00 in Paris, both on
    the Sunday in UTC: each in its own week, in the aggregates and in the naive count."""
    monday = week_of(utcnow()) - timedelta(days=14)
    midnight = datetime.combine(monday, time(), tzinfo=ZoneInfo("Europe/Paris"))
    sunday, early_monday = (midnight + timedelta(minutes=m) for m in (-30, 30))
    assert early_monday.astimezone(UTC).date() == monday - timedelta(days=1)  # UTC: Sunday
    with simulated_clock(sunday.astimezone(UTC)):
        driver.open(ProductFactory(organisation=organisation), "dmn_pecan")
    with simulated_clock(early_monday.astimezone(UTC)) as clock:
        late = driver.open(ProductFactory(organisation=organisation), "dmn_pecan")
        driver.fill(late, "recevabilite")
        driver.submit(late, "recevabilite")
        driver.take(late, "recevabilite")
        clock.advance(minutes=10)
        forms.valider(late, "recevabilite", actor=driver.verificateur)
    filters = _filters(8)
    _assert_aggregates_equal_naive(filters)
    facts = from_aggregates(filters)
    previous = monday - timedelta(days=7)
    assert facts.flux[(previous, "ouvertes")] == 1
    assert facts.flux[(monday, "ouvertes")] == 1
    assert facts.flux[(monday, "soumises")] == 1
    # the snapshot of the previous week, taken at Monday 00:00 in Paris, holds the first only
    assert sum(n for (week, _), n in facts.stock.items() if week == previous) == 1
    # the decision of Monday 00:40 in Paris is in the projection's weeks (the 8 before this)
    assert facts.sorties["recevabilite"] == 1


def test_the_page_reads_the_period_totals_written_this_week(driver, product) -> None:
    with simulated_clock(utcnow() - timedelta(days=60)) as clock:
        _recevabilite_with_complements(driver, product, clock, before=5, paused=40, after=3)
    filters = _filters(26)
    _assert_aggregates_equal_naive(filters)
    assert db.scalar(select(func.count()).select_from(StatWeekly)
                     .where(StatWeekly.metric == "delai@26")) == 1
    expected = +from_aggregates(filters).leads
    assert expected == {("dmn_nom_de_marque", "recevabilite", 8, True): 1}
    # a weekly row changed behind the job's back: the period's totals are what is read
    db.execute(update(StatWeekly).where(StatWeekly.metric == "delai")
               .values(count=StatWeekly.count + 5))
    assert +from_aggregates(filters).leads == expected
    # totals written in an earlier week are not used: the weekly rows are grouped again
    db.execute(update(StatCurrent).values(computed_at=utcnow() - timedelta(days=7)))
    db.expire_all()
    assert from_aggregates(filters).leads[
        ("dmn_nom_de_marque", "recevabilite", 8, False)] == 5
