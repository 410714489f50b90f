"""Graceful overload, for real (issue 19, item 6): gunicorn (gunicorn.conf.py, 1 worker ×
2 threads) behind nginx with the reference configuration, twice:

- `reference`: a bound of this gunicorn's threads (its route sleeps: no CPU to share, unlike
  the real pages, for which the reference takes half the threads): past it nginx answers
  at once with the static French 503 page (JSON for the API), the probes still reach the
  application; a smoke of the 4× saturation measurement (docs/benchmarks/overload.md):
  fast 503s, served requests within 2× their saturation p95, no timeout;
- `loose`: a bound far above the threads, so that requests queue inside gunicorn, behind
  slow ones: those whose client disconnects meanwhile are never run, nor those that waited
  past REQUEST_QUEUE_TIMEOUT_SECONDS (backoffice/overload.py). What ran is what the test
  route wrote to a file; what was refused is in gunicorn's log.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backoffice.api.error_codes import ERROR_CODES
from backoffice.overload import API_BODY, PAGE_PATH, RETRY_AFTER_SECONDS
from tests.conftest import fresh_database_url
from tests.deploy.conftest import (
    REFERENCE,
    gunicorn_environment,
    https,
    nginx_binary,
    render_reference,
    start_gunicorn,
    stop,
    tls_context,
    wait_for_port,
)

THREADS = 2
BUDGET = 3.0  # REQUEST_QUEUE_TIMEOUT_SECONDS of this gunicorn


def _nginx(nginx: str, folder: Path, port: int, max_conns: int):
    setup = render_reference(folder, upstream_port=port, max_conns=max_conns)
    process = subprocess.Popen([nginx, "-c", str(setup.main), "-p", str(setup.folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_port(setup.https_port, process, "nginx")
    return process, setup


@pytest.fixture(scope="module")
def overload_stack(tmp_path_factory):
    nginx = nginx_binary()
    tmp = tmp_path_factory.mktemp("overload")
    trace = tmp / "trace.txt"
    trace.touch()
    env = gunicorn_environment(
        tmp, fresh_database_url("sqlite", tmp, "overload"), WEB_CONCURRENCY="1",
        GUNICORN_THREADS=str(THREADS), TRUSTED_PROXIES="1", LOG_FORMAT="json",
        REQUEST_QUEUE_TIMEOUT_SECONDS=str(BUDGET), OVERLOAD_TRACE=str(trace),
        PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"))
    app = start_gunicorn(tmp, env, app="tests.deploy.slow_app:app")
    started = []
    try:
        reference = _nginx(nginx, tmp / "reference", app.port, max_conns=THREADS)
        started.append(reference[0])
        loose = _nginx(nginx, tmp / "loose", app.port, max_conns=64)
        started.append(loose[0])
        yield {"app": app, "reference": reference[1], "loose": loose[1], "trace": trace}
    finally:
        for process in started:
            stop(process)
        stop(app.process)


def _shed_lines(app) -> list[dict]:
    lines = []
    for line in app.log_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "backoffice.overload":
                lines.append(record)
    return lines


def _ran(trace: Path) -> list[str]:
    """What the traced route ran (the slow route's marks left out)."""
    return [name for name in trace.read_text().split() if name != "lent"]


def _hold_threads(port: int, seconds: float, trace: Path) -> list[threading.Thread]:
    """THREADS slow requests, each holding one of gunicorn's threads for `seconds`: returns
    once both run (their marks in the trace file)."""
    marks = trace.read_text().split().count("lent")
    threads = [threading.Thread(target=https, args=(port, "GET", f"/_test/lent/{seconds:.1f}"),
                                kwargs={"timeout": seconds + 30}, daemon=True)
               for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while trace.read_text().split().count("lent") < marks + THREADS:
        assert time.monotonic() < deadline, "the slow requests did not start"
        time.sleep(0.05)
    return threads


def _give_up(port: int, path: str, after: float) -> None:
    """A client that sends its request and leaves after `after` seconds without an answer."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = tls_context().wrap_socket(raw, server_hostname="localhost")
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        sock.settimeout(after)
        with contextlib.suppress(TimeoutError, ssl.SSLError, OSError):
            answer = sock.recv(65536)
            assert not answer, f"answered before the client left: {answer[:80]!r}"
    finally:
        sock.close()


def test_the_reference_bound_sheds_with_the_french_page(overload_stack) -> None:
    app, setup, trace = (overload_stack["app"], overload_stack["reference"],
                         overload_stack["trace"])
    assert f"max_conns={THREADS};" in (setup.folder / "convergence.conf").read_text()
    assert "max_conns=8;" in REFERENCE.read_text()  # the reference: 4 workers × 4 threads / 2
    held = _hold_threads(setup.https_port, 3.0, trace)
    page = https(setup.https_port, "GET", "/instruction/file")
    posted = https(setup.https_port, "POST", "/connexion", body=b"email=x",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    api = https(setup.https_port, "POST", "/api/v1/candidatures", body=b"{}",
                headers={"Content-Type": "application/json"})
    probe = https(setup.https_port, "GET", "/sante", timeout=15)  # waits for a thread
    for thread in held:
        thread.join()
    for answer in (page, posted):
        assert answer.status == 503
        assert answer.seconds < 1.0, answer.seconds  # at once, not after the slow ones
        assert answer.body == PAGE_PATH.read_bytes()  # the very file the application sends
        assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert answer.headers["content-type"].startswith("text/html")
    assert api.status == 503 and api.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert json.loads(api.body)["code"] == API_BODY["code"]
    assert ERROR_CODES[API_BODY["code"]][0] == 503
    assert probe.status == 200  # the probes are never shed
    # the DSFR's stylesheet the page links to is served by nginx itself
    css = https(setup.https_port, "GET", "/static/dsfr/dsfr.min.css")
    assert css.status == 200 and b'href="/static/dsfr/dsfr.min.css"' in page.body
    # nginx refused them: gunicorn never saw them
    seen = app.log_text()
    assert '"path": "/instruction/file"' not in seen and '"path": "/connexion"' not in seen


def test_abandoned_requests_are_never_run(overload_stack) -> None:
    """Two slow requests hold both threads; five clients ask for a traced route and leave
    after half a second, a sixth waits. nginx passed all six on (the loose bound), so they
    queued in gunicorn: once the threads are free, the five are refused unrun (their
    connections from nginx are closed), the sixth runs."""
    app, setup, trace = overload_stack["app"], overload_stack["loose"], overload_stack["trace"]
    trace.write_text("")
    before = len(_shed_lines(app))
    held = _hold_threads(setup.https_port, 2.0, trace)
    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(lambda n: _give_up(setup.https_port, f"/_test/trace/parti-{n}", 0.5),
                      range(5)))
    patient = https(setup.https_port, "GET", "/_test/trace/patient", timeout=15)
    for thread in held:
        thread.join()
    assert patient.status == 200
    assert _ran(trace) == ["patient"]  # the five never ran
    time.sleep(0.5)
    shed = _shed_lines(app)[before:]
    assert sorted(r["path"] for r in shed) == [f"/_test/trace/parti-{n}" for n in range(5)]
    assert all(r["message"].startswith("request shed (client_gone)") and r["status"] == 503
               for r in shed)
    # nginx saw each client leave (499) before gunicorn got to the request
    statuses = [json.loads(line) for line in setup.access_log.read_text().splitlines()]
    assert sorted(s["status"] for s in statuses if "parti-" in s["path"]) == [499] * 5


def test_a_request_that_waited_past_the_budget_gets_the_503_page(overload_stack) -> None:
    """Held behind slow requests longer than REQUEST_QUEUE_TIMEOUT_SECONDS, still connected:
    refused with the page (it would be answered after its user gave up), not run."""
    app, setup, trace = overload_stack["app"], overload_stack["loose"], overload_stack["trace"]
    trace.write_text("")
    before = len(_shed_lines(app))
    held = _hold_threads(setup.https_port, BUDGET + 2, trace)
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(
            lambda n: https(setup.https_port, "GET", f"/_test/trace/tard-{n}", timeout=30),
            range(3)))
    for thread in held:
        thread.join()
    for answer in answers:
        assert answer.status == 503
        assert answer.body == PAGE_PATH.read_bytes()
        assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert answer.seconds > BUDGET
    assert _ran(trace) == []
    shed = _shed_lines(app)[before:]
    assert len(shed) == 3
    assert all(r["message"].startswith("request shed (waited_too_long)") for r in shed)
    # a fresh request is served as usual
    assert https(setup.https_port, "GET", "/_test/trace/frais").status == 200
    assert _ran(trace) == ["frais"]


def _hammer(port: int, clients: int, seconds: float, path: str) -> list[tuple[int, float]]:
    """`clients` connections asking for `path` in a loop (keep-alive; 50 ms of pause after a
    503, which spares the test process's CPU) for `seconds`: (status, seconds) of each
    answer as the client saw it; 0 for no answer within 10 s."""
    until = time.monotonic() + seconds
    results: list[tuple[int, float]] = []

    def loop() -> None:
        conn = None
        while time.monotonic() < until:
            if conn is None:
                conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                                   context=tls_context())
            start = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                results.append((response.status, time.perf_counter() - start))
                if response.status == 503:
                    time.sleep(0.05)
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                results.append((0, time.perf_counter() - start))
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _nginx_times(setup, offset: int, status: int) -> list[float]:
    """nginx's own time ($request_time) of the answers with `status` logged after
    `offset`: the server's side, whatever the test's client threads cost."""
    with setup.access_log.open("rb") as log:
        log.seek(offset)
        lines = [json.loads(line) for line in log.read().decode().splitlines()]
    # a 503 is logged with the page's path (nginx's internal redirect)
    paths = ("/_test/lent/", "/erreurs/indisponible.html")
    return [line["duration_s"] for line in lines
            if line["status"] == status and line["path"].startswith(paths)]


def test_smoke_four_times_saturation_gets_fast_503s_and_no_timeout(overload_stack) -> None:
    """At small scale, what docs/benchmarks/overload.md measures with wrk: a 0.2 s page on
    2 threads saturates at 2 connections; 8 connections (4×) get 503s within milliseconds,
    the served ones stay within 2× the saturation p95 (as nginx timed them), and nothing
    times out."""
    setup = overload_stack["reference"]
    path = "/_test/lent/0.2"
    start = setup.access_log.stat().st_size
    saturation = _hammer(setup.https_port, THREADS, 4, path)
    time.sleep(0.5)  # nginx wrote its lines
    middle = setup.access_log.stat().st_size
    overload = _hammer(setup.https_port, 4 * THREADS, 4, path)
    time.sleep(0.5)
    assert {s for s, _ in saturation} == {200}
    assert {s for s, _ in overload} == {200, 503}, {s for s, _ in overload}  # 0: no timeout
    assert max(t for _, t in overload) < 10
    served_at_saturation = _nginx_times(setup, start, 200)[:len(saturation)]
    served = _nginx_times(setup, middle, 200)
    refused = _nginx_times(setup, middle, 503)
    assert len(refused) > 0 and _p95(refused) < 0.1, refused
    assert _p95(served) <= 2 * _p95(served_at_saturation), (
        _p95(served), _p95(served_at_saturation))
    assert len(served) >= 0.7 * len(saturation)  # the threads stayed busy
