"""The home page's counts are kept by the transactions that move candidatures
(models/queue_count.py): exact after every move, whoever made it, read in the same few
queries whatever the volume, and rebuilt by `flask recompter-files` when rows were written
behind the application's back."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

from sqlalchemy import select, text, update

from backoffice.db import db, utcnow
from backoffice.models import Candidature, QueueCount
from backoffice.models.queue_count import recount, team_counts, utc_day
from backoffice.queues.overview import recomputed_counts
from backoffice.workflow import forms
from backoffice.workflow.definitions import DEMARCHES
from tests.helpers import csrf_token, login_as
from tests.reviewer.test_queue import count_queries

ALL = tuple(sorted(DEMARCHES))


def _counts(desk) -> tuple[int, ...]:
    """The home page's row for DMN nom de marque at recevabilité: à instruire, mes
    dossiers, en attente de l'industriel, en retard, total."""
    html = desk.client.get("/instruction/").get_data(as_text=True)
    row = html.split('data-demarche="dmn_nom_de_marque" data-step="recevabilite"')[1]
    cells = re.findall(r'<td class="bo-num">(.*?)</td>', row.split("</tr>")[0], re.S)
    return tuple(int(re.sub(r"<[^>]+>", "", c)) for c in cells)


def _home_queries(desk) -> int:
    with count_queries() as statements:
        assert desk.client.get("/instruction/").status_code == 200
    return len(statements)


def _take(desk, candidature) -> None:
    response = desk.client.post(f"/instruction/candidatures/{candidature.reference}/prendre",
                                data={"csrf_token": csrf_token(desk.client, "/instruction/")})
    assert response.status_code == 302


def _kept_equal_recomputed() -> None:
    now = utcnow()
    assert sorted(team_counts(db, ALL, now)) == sorted(recomputed_counts(ALL, now))


def test_counts_follow_every_move_whoever_makes_it(desk) -> None:
    first, second = desk.candidature(), desk.candidature()
    assert _counts(desk) == (2, 0, 0, 0, 2)

    _take(desk, first)  # "à instruire" and "mes dossiers" change at once
    assert _counts(desk) == (1, 1, 0, 0, 2)

    login_as(desk.client, desk.colleague)  # a colleague's action shows on my next page
    assert _counts(desk) == (1, 0, 0, 0, 2)
    _take(desk, second)
    login_as(desk.client, desk.me)
    assert _counts(desk) == (0, 1, 0, 0, 2)

    forms.demander_complements(first, "recevabilite", actor=desk.me, message="Le Kbis.")
    db.commit()
    assert _counts(desk) == (0, 1, 1, 0, 2)  # waiting on the vendor now
    _kept_equal_recomputed()


def test_the_home_page_reads_the_same_queries_at_any_volume(desk) -> None:
    desk.candidature()
    few = _home_queries(desk)
    for _ in range(6):
        desk.candidature(demarche="dmn_ligne_generique")
    desk.candidature(until="convention")
    assert _home_queries(desk) == few
    _kept_equal_recomputed()


def test_every_workflow_move_is_counted(desk) -> None:
    """Candidatures of every démarche driven to each of their steps, some rejected, some
    through compléments and modifications, some certified: the kept counts equal the
    recount from the candidatures, and the table's rows equal a rebuilt table."""
    for code, demarche in DEMARCHES.items():
        for until in demarche.steps[:4]:
            desk.candidature(demarche=code, until=until, submit=until != demarche.steps[0])
    refused = desk.candidature()
    desk.driver().take(refused, "recevabilite")
    forms.rejeter(refused, "recevabilite", actor=desk.me, motif="Hors du champ.")
    db.commit()
    _kept_equal_recomputed()

    kept = sorted((r.demarche_code, r.current_step, r.queue_turn, r.assigned, r.due_day, r.n)
                  for r in db.scalars(select(QueueCount)) if r.n)
    recount(db)
    rebuilt = sorted((r.demarche_code, r.current_step, r.queue_turn, r.assigned, r.due_day,
                      r.n) for r in db.scalars(select(QueueCount)))
    assert kept == rebuilt


def test_overdue_counts_the_days_before_and_today_until_now(desk) -> None:
    now = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    dues = [now - timedelta(days=3), now - timedelta(hours=1),  # overdue
            now + timedelta(hours=1), now + timedelta(days=2)]  # not yet
    candidatures = [desk.candidature() for _ in dues]
    for candidature, due in zip(candidatures, dues, strict=True):
        candidature.current.due_at = due
    db.commit()
    rows = {(code, step): row for code, step, *row in team_counts(db, ALL, now)}
    total, _to_take, _on_vendor, overdue = rows[("dmn_nom_de_marque", "recevabilite")]
    assert (total, overdue) == (4, 2)
    assert sorted(team_counts(db, ALL, now)) == sorted(recomputed_counts(ALL, now))


def test_the_recount_folds_the_days_gone_by_and_later_moves_still_add_up(desk) -> None:
    """The nightly recount keeps one row per place for every day before today (the home
    page reads them all: 28,575 of 29,792 rows at 1M were days gone by); a candidature
    due on one of those days that moves afterwards is still counted right."""
    from backoffice.models.queue_count import PAST_DUE_DAY

    now = utcnow()
    dues = [now - timedelta(days=40), now - timedelta(days=9), now - timedelta(days=2),
            now + timedelta(days=3)]
    candidatures = [desk.candidature() for _ in dues]
    for candidature, due in zip(candidatures, dues, strict=True):
        candidature.current.due_at = due
    db.commit()
    before = sorted(team_counts(db, ALL, now))
    assert recount(db) == 4
    db.commit()
    days = sorted(r.due_day for r in db.scalars(select(QueueCount)) if r.n)
    assert days == [PAST_DUE_DAY, utc_day(dues[3])]  # three days gone by, one row
    assert sorted(team_counts(db, ALL, now)) == before
    # the one due 9 days ago is taken and rejected: it leaves the counts
    desk.driver().take(candidatures[1], "recevabilite")
    forms.rejeter(candidatures[1], "recevabilite", actor=desk.me, motif="Hors du champ.")
    db.commit()
    rows = {(code, step): row for code, step, *row in team_counts(db, ALL, now)}
    total, _to_take, _on_vendor, overdue = rows[("dmn_nom_de_marque", "recevabilite")]
    assert (total, overdue) == (3, 2)
    assert sorted(team_counts(db, ALL, now)) == sorted(recomputed_counts(ALL, now))


def test_rows_changed_behind_the_application_are_counted_again_by_the_command(desk, app) -> None:
    desk.candidature()
    assert _counts(desk) == (1, 0, 0, 0, 1)
    # psql or a bulk load: no transaction of the application counted this change
    db.execute(update(Candidature).values(queue_assignee_id=desk.me.id))
    db.commit()
    assert _counts(desk) == (1, 0, 0, 0, 1)  # neither the counts nor my holdings saw it
    result = app.test_cli_runner().invoke(args=["recompter-files"])
    assert result.exit_code == 0, result.output
    assert "1 candidature(s) en cours" in result.output
    assert _counts(desk) == (0, 1, 0, 0, 1)  # both healed


def test_the_nightly_job_recounts(desk) -> None:
    from jobs.maintenance import recompter_files
    from jobs.periodiques import BY_NAME

    desk.candidature()
    db.execute(update(Candidature).values(status="abandonnee", closed_at=utcnow()))
    db.commit()
    assert BY_NAME["recompter-files"].job == "maintenance.recompter_files"
    assert recompter_files() == 0
    assert team_counts(db, ALL, utcnow()) == []


def test_the_recounts_run_under_the_maintenance_timeout_not_a_pages(desk) -> None:
    """At 1M candidatures refilling an empty follow table took longer than the 30 s that
    bound a page's statements, and the recount failed: the nightly recount raises the
    bound for its own transaction only."""
    from backoffice.db import MAINTENANCE_STATEMENT_TIMEOUT
    from jobs.maintenance import recompter_files

    desk.candidature()
    if db.get_bind().dialect.name != "postgresql":
        assert recompter_files() == 1  # SQLite bounds no statement
        return
    assert db.execute(text("SHOW statement_timeout")).scalar() == "30s"  # a page's
    recompter_files()  # SET LOCAL: the bound ends with the job's transaction
    assert db.execute(text("SHOW statement_timeout")).scalar() == MAINTENANCE_STATEMENT_TIMEOUT


def test_parallel_moves_keep_exact_counts(tmp_path) -> None:
    """Eight vérificateurs take eight dossiers at once, each in its own transaction on
    PostgreSQL, while the nightly recount runs: every move is counted once, no deadlock."""
    from backoffice import create_app
    from backoffice.seed import ensure_delay_rules, ensure_demarches
    from backoffice.workflow.base import Industriel
    from backoffice.workflow.referentiels import load_json
    from backoffice.workflow.scenarios import Driver
    from tests.api.conftest import REFERENTIEL
    from tests.conftest import base_config, fresh_database_url
    from tests.factories import (
        OrganisationFactory,
        ProductFactory,
        TeamFactory,
        UserFactory,
        fichier_for,
    )

    url = fresh_database_url("postgresql", tmp_path, "queue_counts")
    app = create_app({**base_config(tmp_path, url), "JOBS_RAISE": False})
    with app.app_context():
        ensure_demarches()
        load_json(REFERENTIEL)
        ensure_delay_rules()
        team = TeamFactory(parcours="dmn")
        organisation = OrganisationFactory()
        industriel = Industriel(organisation)
        jobs = []
        for _ in range(8):
            verificateur = UserFactory(roles=["verificateur"], teams=[team])
            driver = Driver(industriel, verificateur, None, fichier_for)
            candidature = driver.open(ProductFactory(organisation=organisation),
                                      "dmn_nom_de_marque")
            driver.fill(candidature, "recevabilite")
            driver.submit(candidature, "recevabilite")
            db.flush()
            jobs.append((candidature.reference, verificateur.id))
        db.commit()
        db.remove()
    barrier = threading.Barrier(len(jobs) + 1)
    errors: list[BaseException] = []

    def take(reference: str, user_id: int) -> None:
        from backoffice.models import User

        with app.app_context():
            try:
                barrier.wait()
                candidature = db.scalar(select(Candidature).where(
                    Candidature.reference == reference).with_for_update())
                forms.prendre(candidature, "recevabilite", actor=db.get(User, user_id))
                db.commit()
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.remove()

    def nightly() -> None:
        from backoffice.models.follow import refollow

        with app.app_context():
            try:
                barrier.wait()
                refollow(db)  # the nightly job's order (jobs/maintenance.py)
                recount(db)
                db.commit()
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.remove()

    threads = [threading.Thread(target=take, args=job) for job in jobs]
    threads.append(threading.Thread(target=nightly))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not errors
        with app.app_context():
            now = utcnow()
            rows = {(c, s): r for c, s, *r in team_counts(db, ALL, now)}
            assert rows[("dmn_nom_de_marque", "recevabilite")][:2] == [8, 0]
            assert sorted(team_counts(db, ALL, now)) == sorted(
                recomputed_counts(ALL, now))
            # « Mes dossiers »: each vérificateur holds the dossier they took
            from backoffice.models import DossierHolding
            holdings = {(h.user_id, h.candidature_id)
                        for h in db.scalars(select(DossierHolding))}
            assert holdings == {(user_id, db.scalar(select(Candidature.id).where(
                Candidature.reference == reference))) for reference, user_id in jobs}
    finally:
        app.extensions["db_engine"].dispose()
