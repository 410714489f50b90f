"""The reference nginx configuration (deploy/nginx/convergence.conf) in front of gunicorn
(gunicorn.conf.py, backoffice.wsgi) — issue 14 items 4 and 7, issue 15 item 5:

- `nginx -t` accepts it; its body limits follow the application's upload routes;
- TLS, the redirect from HTTP, the client's real address and nginx's request id reach the
  application (TRUSTED_PROXIES=1) and gunicorn's JSON access log;
- oversized bodies and too many connections from one address are refused by nginx, in
  French (JSON for the API);
- 100 slow clients announcing a 900 kB body and trickling it do not slow `/sante` down:
  nginx holds them, gunicorn never sees them; the same clients straight at gunicorn starve
  it (the control: what the proxy is for);
- the Prometheus counts of two gunicorn workers are added up (multiprocess mode).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import fresh_database_url
from tests.deploy.conftest import (
    REFERENCE,
    SlowClient,
    gunicorn_environment,
    https,
    nginx_binary,
    plain_get,
    render_reference,
    start_gunicorn,
    stop,
    wait_for_port,
    with_upload_limits,
)

METRICS_TOKEN = secrets.token_urlsafe(32)
HEX32 = re.compile(r"[0-9a-f]{32}")


# --- the configuration itself ------------------------------------------------------------------

def test_the_reference_configuration_passes_nginx_t(tmp_path) -> None:
    setup = render_reference(tmp_path, upstream_port=8000)
    result = subprocess.run([nginx_binary(), "-t", "-c", str(setup.main), "-p",
                             str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def _locations(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """(modifier, pattern, directives) of each location of the HTTPS server, in order."""
    server = text[text.index(" ssl http2;"):]  # the HTTPS server (reference or rendered)
    found = []
    for match in re.finditer(r"\n    location (=|~|@)?\s*(\S+) \{\n(.*?)\n    \}", server, re.S):
        directives = dict(re.findall(r"^\s+(\w+) ([^;]+);", match.group(3), re.M))
        found.append((match.group(1) or "", match.group(2), directives))
    return found


def _size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([km]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit]


def nginx_body_limit(text: str, path: str) -> int:
    """The client_max_body_size nginx applies to `path`: an exact location, else the first
    matching regular expression, else the longest matching prefix (nginx's order)."""
    locations = _locations(text)
    server_default = re.search(r"\n    client_max_body_size (\S+);", text).group(1)
    chosen = next((d for m, p, d in locations if m == "=" and p == path), None)
    if chosen is None:
        chosen = next((d for m, p, d in locations if m == "~" and re.search(p, path)), None)
    if chosen is None:
        prefixes = [(p, d) for m, p, d in locations if m == "" and path.startswith(p)]
        chosen = max(prefixes, key=lambda item: len(item[0]))[1] if prefixes else {}
    return _size(chosen.get("client_max_body_size", server_default))


def _check_body_limits(app, text: str, limits: dict[str, int]) -> int:
    """Each upload route of `app` allowed a little more than its purpose's limit in
    `limits` (bytes), every other route at most 2 MB; the number of upload routes."""
    from backoffice.uploads import FORM_BODY_LIMIT, MULTIPART_OVERHEAD

    samples = {"reference": "ABCDEFGHI", "section": "INS", "exigence": "INS 3.1",
               "step": "recevabilite", "preuve_id": "12", "file_id": "7"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not (rule.methods or set()) & {"POST", "PUT", "PATCH"}:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: samples.get(m.group(1), "x"),
                      rule.rule)
        view = app.view_functions[rule.endpoint]
        purpose = getattr(view, "upload_purpose", None)
        allowed = nginx_body_limit(text, path)
        if purpose:
            needed = limits[purpose] + MULTIPART_OVERHEAD
            assert needed <= allowed <= needed + 2 * 1024 * 1024, (rule.rule, allowed)
            checked += 1
        else:
            assert allowed <= 2 * FORM_BODY_LIMIT, (rule.rule, allowed)
    return checked


def test_nginx_drops_idle_upstream_connections_before_gunicorn_closes_them() -> None:
    """An upstream connection kept idle by nginx longer than gunicorn keeps it races
    gunicorn's close: a POST sent on it as it closes fails (seen once in the upload
    benchmark, a 503 five seconds after the previous request)."""
    import runpy

    gunicorn_keepalive = runpy.run_path(str(REFERENCE.parents[2] / "gunicorn.conf.py"))[
        "keepalive"]
    block = re.search(r"upstream convergence_app \{(.*?)\}", REFERENCE.read_text(), re.S)
    assert block is not None
    found = re.search(r"^\s*keepalive_timeout (\d+)s;", block.group(1), re.M)
    assert found is not None, "upstream keepalive_timeout missing (nginx's default: 60 s)"
    assert int(found.group(1)) < gunicorn_keepalive


def test_body_limits_follow_the_application_routes(app) -> None:
    """Each upload route gets a little more than the application's own limit (so that the
    application, not nginx, answers a file just over it with its French message); every
    other route at most 2 MB; the login pages 16 kB."""
    text = REFERENCE.read_text()
    # pièces, preuves, zip, messages (API and UI), signed convention
    assert _check_body_limits(app, text, app.extensions["upload_limits"]) == 6
    assert nginx_body_limit(text, "/connexion") == 16 * 1024
    assert nginx_body_limit(text, "/api/v1/candidatures/ABCDEFGHI/preuves-pour-avis") \
        == 2049 * 1024 * 1024


def test_rendered_for_other_upload_limits(app, tmp_path) -> None:
    """A deployment with its own UPLOAD_LIMITS_MB (bench.upload: 1 GiB pièces) adapts the
    upload routes' limits the same way; the rest of the file is unchanged."""
    custom = {"piece": 1040, "preuve": 300}
    setup = render_reference(tmp_path, upstream_port=8000, upload_limits_mb=custom)
    text = (setup.folder / "convergence.conf").read_text()
    limits = {**app.extensions["upload_limits"],
              **{purpose: mb * 1024 * 1024 for purpose, mb in custom.items()}}
    assert _check_body_limits(app, text, limits) == 6
    assert nginx_body_limit(text, "/api/v1/candidatures/ABCDEFGHI/pieces") == 1041 * 1024 * 1024
    reference = REFERENCE.read_text().splitlines()
    changed = [a for a, b in zip(reference, with_upload_limits("\n".join(reference), custom)
                                 .splitlines(), strict=True) if a != b]
    assert changed == ["        client_max_body_size 201m;", "        client_max_body_size 51m;"]
    result = subprocess.run([nginx_binary(), "-t", "-c", str(setup.main), "-p",
                             str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


# --- the real thing ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """gunicorn (2 workers × 4 threads, SQLite) behind nginx with the reference
    configuration."""
    nginx = nginx_binary()
    tmp = tmp_path_factory.mktemp("stack")
    env = gunicorn_environment(
        tmp, fresh_database_url("sqlite", tmp, "stack"), WEB_CONCURRENCY="2",
        GUNICORN_THREADS="4", TRUSTED_PROXIES="1", LOG_FORMAT="json",
        METRICS_TOKEN=METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"))
    app = start_gunicorn(tmp, env)
    setup = render_reference(tmp / "nginx", upstream_port=app.port)
    proxy = subprocess.Popen([nginx, "-c", str(setup.main), "-p", str(setup.folder)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(setup.https_port, proxy, "nginx")
        yield app, setup, tmp
    finally:
        stop(proxy)
        stop(app.process)


def _access_lines(app) -> list[dict]:
    lines = []
    for line in app.log_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "gunicorn.access":
                lines.append(record)
    return lines


def _wait_for_access_line(app, request_id: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for record in _access_lines(app):
            if record.get("request_id") == request_id:
                return record
        time.sleep(0.1)
    raise AssertionError(f"no access line for {request_id}")


def test_the_client_address_and_request_id_reach_the_application(stack) -> None:
    app, setup, _tmp = stack
    answer = https(setup.https_port, "GET", "/sante?jeton=secret-dans-l-url",
                   source="127.0.0.9", headers={"X-Forwarded-For": "6.6.6.6",
                                                "X-Request-ID": "choisi-par-le-client"})
    assert answer.status == 200
    assert json.loads(answer.body) == {"status": "ok"}
    request_id = answer.headers["x-request-id"]
    assert HEX32.fullmatch(request_id)  # nginx's own $request_id, not the client's
    record = _wait_for_access_line(app, request_id)
    assert record["remote_addr"] == "127.0.0.9"  # the real client, not 6.6.6.6, not nginx
    assert record["route"] == "main.health" and record["status"] == 200
    assert record["method"] == "GET" and record["path"] == "/sante"
    assert record["level"] == "INFO" and isinstance(record["duration_ms"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
    # nginx's own access log: JSON, the same request id, never the query string
    time.sleep(0.2)
    nginx_lines = [json.loads(line) for line in setup.access_log.read_text().splitlines()]
    assert any(line["request_id"] == request_id and line["path"] == "/sante"
               and line["remote_addr"] == "127.0.0.9" for line in nginx_lines)
    assert "secret-dans-l-url" not in setup.access_log.read_text()
    assert "secret-dans-l-url" not in app.log_text()


def test_plain_http_is_sent_to_https(stack) -> None:
    _app, setup, _tmp = stack
    answer = plain_get(setup.http_port, "/connexion")
    assert answer.status == 301
    assert answer.headers["location"].startswith("https://")


def test_an_oversized_body_is_refused_by_nginx_in_french(stack) -> None:
    app, setup, _tmp = stack
    login = SlowClient(setup.https_port, "/connexion", size=900_000)
    try:
        answer = login.answer_now(wait=3)
    finally:
        login.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 413")
    assert "Fichier trop volumineux" in answer.decode(errors="replace")
    api = SlowClient(setup.https_port, "/api/v1/candidatures/ABCDEFGHI/pieces",
                     size=60 * 1024 * 1024)
    try:
        answer = api.answer_now(wait=3)
    finally:
        api.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 413")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["code"] == "file_too_large"
    assert not [r for r in _access_lines(app) if r["path"].endswith("/pieces")
                or r["path"] == "/connexion" and r["method"] == "POST"]


def test_connections_per_address_are_limited_but_not_the_probes(stack, clients) -> None:
    _app, setup, _tmp = stack
    for _ in range(40):
        clients.append(SlowClient(setup.https_port, "/api/v1/candidatures/ABCDEFGHI/pieces",
                                  source="127.0.0.50"))
    answers = [client.answer_now(wait=0.5) for client in clients]
    refused = [a for a in answers if a and a.startswith(b"HTTP/1.1 429")]
    held = [a for a in answers if a is None]
    assert len(held) == 32 and len(refused) == 8
    assert b"trop_de_requetes" in refused[0]
    probe = https(setup.https_port, "GET", "/sante", source="127.0.0.50")
    assert probe.status == 200


def test_slow_clients_cannot_starve_the_application(stack, clients) -> None:
    """Issue 15, item 5: 100 clients, each from its own address, announce a 900 kB upload and
    send a byte every half second; `/sante` still answers at once, because nginx receives
    the bodies and gunicorn (8 threads) has not seen one of those requests."""
    app, setup, _tmp = stack
    for n in range(100):
        clients.append(SlowClient(setup.https_port, "/api/v1/candidatures/ABCDEFGHI/pieces",
                                  source=f"127.0.1.{n + 1}",
                                  headers={"Authorization": "Bearer cvg_jeton-lent"}))
    seconds = []
    for _ in range(8):
        for client in clients:
            client.trickle()
        probe = https(setup.https_port, "GET", "/sante", timeout=10)
        assert probe.status == 200
        seconds.append(probe.seconds)
        time.sleep(0.5)
    assert max(seconds) < 1.0, seconds
    assert all(client.answer_now(wait=0) is None for client in clients)  # all still held
    assert not [r for r in _access_lines(app) if r["path"].endswith("/pieces")]


def test_the_metrics_of_both_workers_are_added_up(stack) -> None:
    app, setup, tmp = stack

    def health_count() -> float:
        answer = https(setup.https_port, "GET", "/metrics",
                       headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status == 200
        match = re.search(rb'backoffice_http_request_duration_seconds_count\{method="GET",'
                          rb'route="main.health"\} ([0-9.e+]+)', answer.body)
        return float(match.group(1)) if match else 0.0

    def counted_by() -> set[str]:
        return {path.stem.rsplit("_", 1)[-1] for path in Path(tmp / "metrics").glob("*.db")}

    before, sent = health_count(), 0
    # rounds of parallel requests (a new connection each) until both workers have served
    # some: one after the other, a fast worker may take every connection on a busy machine
    for _ in range(10):
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: https(setup.https_port, "GET", "/sante").status,
                                     range(20)))
        assert statuses == [200] * 20
        sent += 20
        if len(counted_by()) >= 2:
            break
    assert len(counted_by()) >= 2, counted_by()  # both workers counted some
    assert health_count() - before == sent  # and /metrics adds them up


def test_without_nginx_the_same_slow_clients_starve_gunicorn(stack, clients) -> None:
    """The control: straight at gunicorn, 100 slow login bodies hold its 8 threads and
    `/sante` gets no answer — this is what the proxy's buffering prevents."""
    app, _setup, _tmp = stack
    for n in range(100):
        clients.append(SlowClient(app.port, "/connexion", source=f"127.0.2.{n + 1}", tls=False))
    done: list[float] = []

    def probe() -> None:
        with contextlib.suppress(OSError):
            done.append(plain_get(app.port, "/sante", timeout=4).seconds)

    time.sleep(1)
    thread = threading.Thread(target=probe)
    thread.start()
    for _ in range(6):
        for client in clients:
            client.trickle()
        time.sleep(0.5)
    thread.join()
    assert done == [], f"gunicorn answered /sante in {done} s while starved"
    for client in clients:  # once they go, gunicorn answers again: it was starved, not dead
        client.close()
    assert plain_get(app.port, "/sante", timeout=10).status == 200
