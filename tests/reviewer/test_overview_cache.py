"""The home page's team counts are kept between pages (queues/cache.py) and recomputed as
soon as a candidature moves: a vérificateur never sees a count older than their last
action or a colleague's."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from backoffice.db import db
from backoffice.models import Candidature
from backoffice.queues.cache import QueueCache
from tests.conftest import TEST_REDIS_URL, missing_tier
from tests.helpers import csrf_token, login, logout
from tests.reviewer.test_queue import count_queries


@pytest.fixture
def cached(app, monkeypatch):
    cache = QueueCache(60, None)
    monkeypatch.setitem(app.extensions, "queue_cache", cache)
    return cache


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


def test_counts_are_kept_until_a_candidature_moves(desk, cached) -> None:
    first, second = desk.candidature(), desk.candidature()
    assert _counts(desk) == (2, 0, 0, 0, 2)
    kept = _home_queries(desk)
    assert _home_queries(desk) == kept  # served from the cache every time...
    cached.seconds = 0.0
    assert _home_queries(desk) == kept + 1  # ...one grouped query less than counting
    cached.seconds = 60.0

    # the vérificateur takes one: "à instruire" and "mes dossiers" change at once
    _take(desk, first)
    assert _counts(desk) == (1, 1, 0, 0, 2)
    assert _home_queries(desk) == kept  # and are kept again

    # a colleague's action, in another session, shows on the next page too
    logout(desk.client)
    login(desk.client, desk.colleague)
    assert _counts(desk) == (1, 0, 0, 0, 2)
    _take(desk, second)
    logout(desk.client)
    login(desk.client, desk.me)
    assert _counts(desk) == (0, 1, 0, 0, 2)


def test_rows_changed_behind_the_application_wait_for_the_time_limit(desk, cached) -> None:
    desk.candidature()
    assert _counts(desk) == (1, 0, 0, 0, 1)
    # a row changed outside the application (psql, a restore) bumps no generation: the
    # team's counts stay until QUEUE_CACHE_SECONDS; the user's own are always read
    db.execute(update(Candidature).values(queue_assignee_id=desk.me.id))
    db.commit()
    assert _counts(desk) == (1, 1, 0, 0, 1)
    cached.seconds = 0.0
    assert _counts(desk) == (0, 1, 0, 0, 1)


@pytest.mark.redis
def test_generation_is_shared_by_processes_through_redis() -> None:
    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set")
    worker_a, worker_b = QueueCache(60, TEST_REDIS_URL), QueueCache(60, TEST_REDIS_URL)
    calls: list[str] = []

    def compute(name: str):
        return lambda: calls.append(name) or len(calls)

    assert worker_a.get("k", compute("a")) == 1
    assert worker_a.get("k", compute("a")) == 1  # kept
    worker_b.bump()  # a commit in another gunicorn worker or an rq worker
    assert worker_a.get("k", compute("a")) == 2
    assert calls == ["a", "a"]


def test_redis_down_counts_every_time() -> None:
    down = QueueCache(60, "redis://127.0.0.1:1/0")  # nothing listens there
    calls: list[int] = []
    for _ in range(3):
        down.get("k", lambda: calls.append(1))
    assert len(calls) == 3
    down.bump()  # no error either


def test_colleagues_and_windows_are_kept_until_an_account_or_window_changes(desk, cached) -> None:
    from tests.factories import UserFactory

    def queue_queries() -> int:
        with count_queries() as statements:
            assert desk.client.get("/instruction/file").status_code == 200
        return len(statements)

    desk.candidature()
    queue_queries()
    kept = queue_queries()
    cached.seconds = 0.0
    assert queue_queries() == kept + 2  # colleagues and campaign windows read again
    cached.seconds = 60.0
    queue_queries()

    # a vérificateur joins the team (admin): in the "Attribution" list at once
    nadia = UserFactory(name="Nadia Nouvelle", roles=["verificateur"], teams=desk.me.teams)
    db.commit()
    assert "Nadia Nouvelle" in desk.client.get("/instruction/file").get_data(as_text=True)
    # and deactivated: gone at once
    nadia.active = False
    db.commit()
    assert "Nadia Nouvelle" not in desk.client.get("/instruction/file").get_data(as_text=True)
