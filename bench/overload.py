"""Graceful overload (issue 19, item 6): the reference deployment, nginx
(deploy/nginx/convergence.conf) in front of gunicorn (gunicorn.conf.py), driven by wrk with
the vérificateurs' mix of bench/load.py, over a bench database:

    python -m bench.overload --database-url URL [--connections 1,2,4,8,16,32]
        [--runs 3] [--seconds 20] [--max-conns 8] [--shed-pause-ms 0] [--output FILE]

For each number of connections (each run in turn, `--runs` rounds): wrk over TLS for
`--seconds` after a short warm-up, no think time (each connection sends its next request
as soon as it has an answer; a 503 included). Reported per run: wrk's requests/s and
latency, its timeouts (no answer within `--timeout`) and socket errors, and from nginx's
access log the answers by status and the p50/p95 of the served ones (200) and of the
503s as nginx timed them (`$request_time`), the load average before and after.
`--max-conns` replaces the reference's upstream max_conns (0: no bound, the control);
`--shed-pause-ms`: a connection pauses that long after a 503, as a person reading the page
would (bench/overload.lua; 0, the default: it asks again at once, bench/load.lua without think
time).

The per-address connection limit of the reference (32) is lifted: wrk opens every
connection from 127.0.0.1. gunicorn serves the bench application (bench/app.py: sessions
without the login form) with TRUSTED_PROXIES=1, as production does behind nginx. wrk,
nginx, gunicorn and PostgreSQL share the machine's cores."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import measure
from bench.load import _wrk_requests, targets
from bench.upload import ROOT, start_gunicorn


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


@contextmanager
def reference_stack(url: str, work: Path, max_conns: int | None
                    ) -> Iterator[tuple[int, int, Path]]:
    """gunicorn (bench app) behind nginx with the reference configuration:
    (nginx's HTTPS port, gunicorn's port, nginx's access log)."""
    from tests.deploy.conftest import render_reference, wait_for_port

    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "", "PYTHONPATH": str(ROOT),
           "SECRET_KEY": "bench-only-secret-key", "INSTANCE_DIR": str(work),
           "SESSION_COOKIE_SECURE": "false", "TRUSTED_PROXIES": "1",
           "GUNICORN_ACCESS_LOG": ""}
    workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1))
    server, port = start_gunicorn("bench.app:create_bench_app()", env, work / "gunicorn.log",
                                  workers=workers)
    try:
        setup = render_reference(work / "nginx", upstream_port=port,
                                 max_conns=None if max_conns is None else max_conns or 10000)
        conf = setup.folder / "convergence.conf"
        conf.write_text(re.sub(r"limit_conn convergence_conn \d+;",
                               "limit_conn convergence_conn 10000;", conf.read_text()))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        errors = (work / "nginx-stderr.log").open("wb")
        proxy = subprocess.Popen([nginx, "-c", str(setup.main), "-p", str(setup.folder)],  # noqa: S603
                                 stdout=subprocess.DEVNULL, stderr=errors)
        try:
            try:
                wait_for_port(setup.https_port, proxy, "nginx")
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}: {(work / 'nginx-stderr.log').read_text()}") from exc
            yield setup.https_port, port, setup.access_log
        finally:
            proxy.terminate()
            proxy.wait(timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=60)


def nginx_lines(log: Path, offset: int) -> list[dict[str, Any]]:
    with log.open("rb") as f:
        f.seek(offset)
        data = f.read()
    return [json.loads(line) for line in data.decode("utf-8", "replace").splitlines()
            if line.startswith("{")]


def wrk_once(wrk: str, port: int, connections: int, seconds: float, timeout: float,
             script: Path, shed_pause_ms: float = 0) -> dict[str, Any]:
    # the tight loop with bench/load.lua (no think time); a pause after 503s needs
    # bench/overload.lua, whose response() hook costs wrk a little more CPU
    lua = Path(__file__).with_name("overload.lua" if shed_pause_ms else "load.lua")
    out = subprocess.run(  # noqa: S603 - fixed arguments
        [wrk, "-t", str(min(2, connections)), "-c", str(connections),
         "-d", f"{max(seconds, 1):.0f}s",
         "--timeout", f"{timeout:.0f}s", "-s", str(lua), f"https://127.0.0.1:{port}", "--",
         str(script), f"{shed_pause_ms:.0f}"],
        capture_output=True, text=True, check=True, timeout=seconds + 120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_run(wrk: str, port: int, log: Path, connections: int, seconds: float,
            warmup: float, timeout: float, script: Path, shed_pause_ms: float = 0
            ) -> dict[str, Any]:
    if warmup > 0:
        wrk_once(wrk, port, connections, warmup, timeout, script, shed_pause_ms)
    time.sleep(1)
    offset = log.stat().st_size
    before = loadavg()
    raw = wrk_once(wrk, port, connections, seconds, timeout, script, shed_pause_ms)
    after = loadavg()
    time.sleep(0.5)  # nginx writes the last lines
    lines = [line for line in nginx_lines(log, offset) if line["path"] != "/sante"]
    by_status: dict[str, int] = {}
    for line in lines:
        by_status[str(line["status"])] = by_status.get(str(line["status"]), 0) + 1
    served = [line["duration_s"] * 1000 for line in lines if line["status"] == 200]
    shed = [line["duration_s"] * 1000 for line in lines if line["status"] == 503]
    elapsed = raw["duration_us"] / 1e6
    return {
        "connections": connections, "seconds": round(elapsed, 1),
        "requests_per_second": round(raw["requests"] / elapsed, 1),
        "served_per_second": round(len(served) / elapsed, 1),
        "wrk_p50_ms": round(raw["p50_us"] / 1000, 1), "wrk_p95_ms": round(raw["p95_us"] / 1000, 1),
        "wrk_max_ms": round(raw["max_us"] / 1000, 1),
        "timeouts": raw["errors"]["timeout"],
        "socket_errors": {k: v for k, v in raw["errors"].items() if k not in ("status",)},
        "statuses": by_status,
        "served_p50_ms": round(measure.percentile(served, 50), 1) if served else None,
        "served_p95_ms": round(measure.percentile(served, 95), 1) if served else None,
        "shed_p95_ms": round(measure.percentile(shed, 95), 1) if shed else None,
        "shed_max_ms": round(max(shed), 1) if shed else None,
        "loadavg_before": before, "loadavg_after": after,
    }


def run(url: str, connections: list[int], runs: int = 3, seconds: float = 20,
        warmup: float = 5, timeout: float = 10, max_conns: int | None = None,
        users: int = 64, shed_pause_ms: float = 0) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is missing (apt-get install wrk)")
    plan = targets(url, users)
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmp:
        work = Path(tmp)
        with reference_stack(url, work, max_conns) as (https_port, port, log):
            lines = _wrk_requests(port, plan, 200)
            script = work / "requests.tsv"
            script.write_text("".join(f"{cookie}\t{path}\n" for cookie, path in lines))
            results = []
            for round_ in range(runs):
                for c in connections:
                    result = one_run(wrk, https_port, log, c, seconds, warmup, timeout,
                                     script, shed_pause_ms)
                    result["round"] = round_ + 1
                    print(json.dumps(result), flush=True)
                    results.append(result)
    return {"max_conns": "reference" if max_conns is None else max_conns or "none",
            "gunicorn_workers": int(os.environ.get("WEB_CONCURRENCY")
                                    or 2 * (os.cpu_count() or 1)),
            "wrk_timeout_s": timeout, "shed_pause_ms": shed_pause_ms, "runs": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--connections", default="1,2,4,8,16,32")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--timeout", type=float, default=10,
                        help="wrk's timeout: an answer later than this is a timeout")
    parser.add_argument("--max-conns", type=int, help="upstream bound (0: none)")
    parser.add_argument("--shed-pause-ms", type=float, default=0,
                        help="pause of a connection after a 503 (0: none, a tight loop)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = run(args.database_url, [int(c) for c in args.connections.split(",")], args.runs,
                 args.seconds, args.warmup, args.timeout, args.max_conns,
                 shed_pause_ms=args.shed_pause_ms)
    measure.report(result, args.output)


if __name__ == "__main__":
    main()
