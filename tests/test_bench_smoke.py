"""The benchmarks at a tiny size (docs/benchmarks.md): the generator on SQLite and on
PostgreSQL (a per-process database, dropped after), then every benchmark in smoke mode.
The figures mean nothing at this size; the shapes, the audit chain, the deep-page cursor
and the query budget of the pages do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.conftest import BACKENDS, TEST_DATABASE_URL, TEST_REDIS_URL, missing_tier

SIZE = 300  # candidatures: seconds on both backends, more than a page of them open
QUERY_BUDGET = 8


@pytest.fixture(scope="module", params=BACKENDS)
def bench_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from bench.generate import generate
    from config import normalise_database_url

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('bench') / 'bench.sqlite3'}"
    else:
        if not TEST_DATABASE_URL:
            missing_tier("TEST_DATABASE_URL is not set (PostgreSQL tier)")
        server = normalise_database_url(TEST_DATABASE_URL)
        url = make_url(server).set(database=f"bench_smoke_{os.getpid()}").render_as_string(
            hide_password=False)
    summary = generate(url, SIZE, large=1, pending=6, quiet=True, verify_audit=True)
    yield url, summary
    if request.param != "sqlite":
        admin = create_engine(make_url(url).set(database="postgres"),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" '
                              "WITH (FORCE)"))
        admin.dispose()


def test_generator_loads_consistent_rows(bench_url) -> None:
    url, summary = bench_url
    rows = summary["rows"]
    assert rows["candidature"] == SIZE
    for table in ("candidature_step", "fichier", "preuve", "message", "audit_event",
                  "section_review", "candidature_exigence", "exigence_verdict", "piece"):
        assert rows[table] > 0, table
    # foreign keys were checked by the load itself (re-added on PostgreSQL,
    # foreign_key_check on SQLite); the audit chain is the application's own check
    assert summary["verify_audit"]["ok"], summary["verify_audit"]
    assert summary["verify_audit"]["checked"] == rows["audit_event"]
    assert summary["large_dossiers"] == ["GROSDOSAA"]
    # « Suivis » (models/follow.py): the follows of the rows loaded by COPY were derived
    engine = create_engine(url)
    with engine.connect() as conn:
        follows = set(conn.execute(text(
            "SELECT user_id, candidature_id FROM dossier_follow")).all())
        derived = set(conn.execute(text(
            "SELECT assignee_id, candidature_id FROM candidature_step "
            "WHERE assignee_id IS NOT NULL UNION SELECT decided_by_id, candidature_id "
            "FROM candidature_step WHERE decided_by_id IS NOT NULL")).all())
        holdings = set(conn.execute(text(
            "SELECT user_id, candidature_id FROM dossier_holding")).all())
        held = set(conn.execute(text(
            "SELECT queue_assignee_id, id FROM candidature WHERE status = 'en_cours' "
            "AND queue_assignee_id IS NOT NULL UNION SELECT r.assignee_id, r.candidature_id "
            "FROM section_review r JOIN candidature c ON c.id = r.candidature_id "
            "WHERE r.status IN ('soumise', 'en_revue') AND r.assignee_id IS NOT NULL "
            "AND c.status = 'en_cours'")).all())
    engine.dispose()
    assert follows and follows == derived
    assert holdings and holdings == held  # « Mes dossiers » (dossier_holding)


def test_deep_page_cursor_is_the_one_keyset_navigation_reaches(bench_url,
                                                               tmp_path: Path) -> None:
    from bench.run import deep_cursor, make_app, signed_in_client, walked_cursor

    url, _ = bench_url
    app = make_app(url, tmp_path)
    _, user_id = signed_in_client(app)
    assert deep_cursor(app, user_id, 1) == walked_cursor(app, user_id, 1)
    app.extensions["db_engine"].dispose()


def test_benchmarks_run_and_lists_keep_their_query_budget(bench_url) -> None:
    from bench.plot import points
    from bench.run import run

    url, _ = bench_url
    result = run(url, smoke=True, depth=1, csv_rows=1000, certificates=2)
    queue = result["queue"]
    for side, names in (("backoffice", ("first", "deep", "searched_name", "filtered_mine")),
                        ("baseline", ("first", "deep", "deep_sorted_by_date"))):
        for name in names:
            stats = queue[side][name]
            assert stats["n"] == 2 and stats["p95_ms"] >= stats["p50_ms"] > 0, (side, name)
    assert result["dataset"]["large_dossier"]["preuves"] == 200
    assert result["dataset"]["large_dossier"]["messages"] == 500
    assert result["csv"]["rows"] == result["dataset"]["visible_en_cours"]
    assert result["certificates"]["signed"] == result["certificates"]["issued"] == 2
    # the queue pages (every filter, search, sort, the deep page), home, section queue
    lists = {f"queue.{k}": v["queries"] for k, v in queue["backoffice"].items()
             if isinstance(v, dict)}
    lists.update({k: result["pages"][k]["queries"] for k in ("home", "section_queue")})
    assert max(lists.values()) <= QUERY_BUDGET, lists
    assert points([result]), "nothing to plot"


def test_dossier_pages_keep_the_query_budget(bench_url, tmp_path: Path) -> None:
    from bench.run import bench_pages, make_app, signed_in_client

    url, _ = bench_url
    app = make_app(url, tmp_path)
    client, _ = signed_in_client(app)
    pages = bench_pages(app, client, repeat=1, warmup=0)
    app.extensions["db_engine"].dispose()
    counts = {k: v["queries"] for k, v in pages.items()}
    assert max(counts.values()) <= QUERY_BUDGET, counts


def test_interleaved_timing_takes_the_calls_in_turn_and_leaves_before_untimed() -> None:
    import time

    from bench import measure

    engine = create_engine("sqlite://")
    order: list[str] = []

    def call(name: str, seconds: float = 0.0):
        def run() -> None:
            order.append(name)
            time.sleep(seconds)
        return run

    result = measure.interleaved({"a": (call("a"), None),
                                  "b": (call("b"), call("before b", 0.05))},
                                 engine, repeat=3, warmup=1)
    assert order == ["a", "before b", "b"] * 4
    assert result["a"]["n"] == result["b"]["n"] == 3
    assert result["b"]["max_ms"] < 40, result  # the 50 ms before each b are not counted
    engine.dispose()


def test_home_benchmark_measures_the_home_beside_the_queue(bench_url) -> None:
    from bench.home import run

    url, _ = bench_url
    result = run(url, repeat=2)
    for name in ("queue", "home", "home_after_move", "queue_after_move"):
        assert result[name]["n"] == 2 and result[name]["p95_ms"] > 0, name
        assert result[name]["queries"] <= QUERY_BUDGET, (name, result[name])
    # the move before each "after move" request is committed: the queue then reloads the
    # colleagues and campaign windows it keeps until something moves (queues/cache.py)
    assert result["queue_after_move"]["queries"] > result["queue"]["queries"], result
    assert set(result["ratios_p95"]) >= {"home / queue", "home_after_move / queue"}


def test_queue_views_benchmark_reads_each_path_beside_the_plain_queue(bench_url) -> None:
    from bench.queue_views import PLAIN, run

    url, _ = bench_url
    result = run(url, repeat=2)
    paths = result["paths"]
    assert {"campaign filter (rare)", "search rare term", "search frequent prefix",
            "exact reference of an open dossier"} <= set(paths)
    for name, r in paths.items():
        assert r["queries"] <= QUERY_BUDGET, (name, r)
        assert r["p95_ratio"] == round(r["p95_ms"] / r["plain_p95_ms"], 2), name
        if url.startswith("postgresql"):  # EXPLAIN (ANALYZE, BUFFERS): PostgreSQL only
            assert r["rows_examined"] > 0, name
    assert paths[PLAIN]["p95_ratio"] == 1.0


def test_a_rare_campaign_is_read_from_its_index_not_by_walking_the_queue(bench_url,
                                                                        tmp_path: Path) -> None:
    """Migration 0027: the campaign filter of a campaign with one candidature left reads
    that candidature, instead of every candidature in progress along the sort's index."""
    from sqlalchemy import inspect

    from bench.queue_views import _facts, explain_request, scenarios
    from bench.run import make_app, signed_in_client

    url, _ = bench_url
    app = make_app(url, tmp_path)
    engine = app.extensions["db_engine"]
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("candidature")}
    assert indexes["ix_candidature_campaign"] == ["campaign_window_id", "status"]
    if engine.dialect.name != "postgresql":  # the plan below is PostgreSQL's
        engine.dispose()
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE candidature")
        conn.exec_driver_sql("ANALYZE dossier_holding")
    client, _ = signed_in_client(app)
    facts = _facts(app)
    assert facts["campaign_rare_open"] == 1, facts
    for name in ("campaign filter (rare)",):
        path, _ = scenarios(facts)[name]
        # at this size a sequential scan is cheapest: without it, what the indexes allow
        statements = [s for s in explain_request(app, client, path,
                                                 settings=("SET enable_seqscan = off",))
                      if s["statement"].startswith(("SELECT candidature", "SELECT count"))]
        assert statements, name
        # the page and its count: a handful of rows, not the open candidatures walked
        assert max(s["rows_examined"] for s in statements) < 20, (name, statements)
    engine.dispose()


def test_the_home_reads_the_users_own_dossiers_from_their_index(bench_url,
                                                                 tmp_path: Path) -> None:
    """« mes dossiers » on the home page reads the user's entries of their holdings'
    index (migration 0031: the steps and the sections they hold), not every entry of the
    démarches in ix_candidature_overview."""
    from sqlalchemy import event

    from bench.run import make_app, signed_in_client

    url, _ = bench_url
    app = make_app(url, tmp_path)
    engine = app.extensions["db_engine"]
    if engine.dialect.name != "postgresql":  # the plan below is PostgreSQL's
        engine.dispose()
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE candidature")
        conn.exec_driver_sql("ANALYZE dossier_holding")
    client, _ = signed_in_client(app)
    seen: list[tuple[str, object]] = []

    def after(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "after_cursor_execute", after)
    try:
        assert client.get("/instruction/").status_code == 200
    finally:
        event.remove(engine, "after_cursor_execute", after)
    mine = [(s, p) for s, p in seen if "FROM dossier_holding" in s and "GROUP BY" in s]
    assert len(mine) == 1, [s for s, _ in seen]
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # at this size a scan is cheapest
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + mine[0][0], mine[0][1]).scalars())
    assert "Index Only Scan using ix_dossier_holding_place" in plan, plan
    engine.dispose()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_benchmark_runs_the_job_and_reports_memory(bench_url, fmt: str) -> None:
    from bench.export_memory import run_export

    url, _ = bench_url
    result = run_export(url, fmt)
    assert result["status"] == "pret" and result["rows"] == result["rows_total"] > 50
    assert result["file_bytes"] > 0 and 0 <= result["rss_growth_mb"] < 50, result


def test_export_benchmark_exports_the_view_it_names(bench_url) -> None:
    """--vue tous: every candidature (how the 1M export is measured on a 1M database),
    not the open ones of « À traiter »."""
    from bench.export_memory import run_export

    url, summary = bench_url
    everything = run_export(url, "csv", view="tous")
    open_only = run_export(url, "csv")
    assert everything["view"] == "tous" and everything["status"] == "pret"
    assert everything["rows"] == everything["rows_total"] == summary["rows"]["candidature"]
    assert 0 < open_only["rows"] < everything["rows"], (open_only, everything)


def test_upload_benchmark_reports_throughput_and_memory(tmp_path: Path) -> None:
    import shutil

    from bench.upload import run

    if shutil.which("nginx") is None:
        missing_tier("nginx is missing (apt-get install nginx-light)")
    result = run(size_mb=4, work=tmp_path)
    for name in ("api", "api_reference_proxy", "direct_prototype", "direct_fast_prototype",
                 "proxy_spooled_prototype"):
        assert result[name]["answer_size"] == 4 * 1024 * 1024 + 9, name
        assert result[name]["mb_per_s"] > 0 and result[name]["share_of_cp"] > 0
    assert result["cp"]["mb_per_s"] > 0
    # through the reference nginx: the pièce route's limit adapted to UPLOAD_LIMITS_MB
    # (4 + 16 MB), nginx's log says it passed the request on and got the 201, its spool is
    # empty afterwards, neither worker's memory grew with the file
    proxied = result["api_reference_proxy"]
    assert proxied["piece_body_limit"] == "21m"
    assert proxied["nginx_status"] == 201 and proxied["nginx_upstream_s"] > 0
    assert proxied["nginx_request_s"] >= proxied["nginx_upstream_s"]
    assert proxied["spool_files_left"] == 0 and "receive_s" in proxied
    assert 0 <= proxied["worker_peak_growth_mb"] < 30, proxied
    assert 0 <= proxied["nginx_worker_peak_growth_mb"] < 30, proxied
    assert set(proxied["cpu_s"]) == {"client", "nginx_worker", "gunicorn_worker"}


@pytest.mark.parametrize("bench_url", ["sqlite"], indirect=True)  # once is enough
def test_concurrent_load_reports_requests_without_errors(bench_url, tmp_path: Path) -> None:
    from bench.load import run

    url, _ = bench_url
    result = run(url, users=2, seconds=1.5, workers=1, warmup=0.5, work=tmp_path)
    assert result["requests"] > 0
    assert result["errors"] == 0, result


@pytest.mark.parametrize("bench_url", ["sqlite"], indirect=True)
def test_wrk_load_reports_requests_without_errors(bench_url, tmp_path: Path) -> None:
    import shutil

    from bench.load import run_wrk

    if shutil.which("wrk") is None:
        missing_tier("wrk is missing (apt-get install wrk)")
    url, _ = bench_url
    result = run_wrk(url, users=3, seconds=1, workers=1, warmup=0, think_ms=50, work=tmp_path,
                     requests_per_user=20)
    assert result["requests"] > 0 and result["distinct_requests"] == 60
    assert result["errors"] == 0, result


@pytest.mark.redis
@pytest.mark.parametrize("bench_url", ["postgresql"], indirect=True)
def test_worker_benchmark_issues_through_the_production_worker(bench_url, tmp_path: Path) -> None:
    from bench.worker import run

    if not TEST_REDIS_URL:
        missing_tier("TEST_REDIS_URL is not set (Redis tier)")
    url, _ = bench_url
    result = run(url, TEST_REDIS_URL, certificates=2, baseline=1, work=tmp_path)
    for name, issued in (("worker", 2), ("rq_worker_forking", 1)):
        assert result[name]["issued"] == result[name]["signed"] == issued, name
        assert result[name]["per_second"] > 0 and result[name]["p95_ms"] > 0, name
    assert result["worker"]["peak_rss_mb"] > 0
