"""A mixed load of concurrent vérificateurs on gunicorn (production settings: sync
workers, WEB_CONCURRENCY or 2 x cores), over a bench database:

    python -m bench.load --database-url URL [--users 50] [--seconds 60] [--output FILE]

Each virtual vérificateur (a distinct account, signed in through /_bench/session) loops
without think time over what the job is made of: its home, the queue (first pages,
filters, next pages), dossiers (their tabs), the section queue and section review pages.
Every request is bounded in time (timeout) and the run stops by itself. Reports
requests/s, latency percentiles (as the client sees them: queueing included) and errors.
The load generator runs on the same machine, so it takes CPU from the server."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import measure
from bench.upload import ROOT, start_gunicorn

ACTIONS = {  # weight of each kind of request
    "home": 8, "queue_first": 22, "queue_next": 14, "queue_filtered": 10,
    "dossier": 18, "dossier_tab": 12, "section_queue": 6, "section_review": 10,
}
FILTERS = ("attribution=moi", "attribution=personne&statut=soumise", "tri=echeance",
           "en_retard=1", "tour=ans", "etape=preuves")
TABS = ("pieces", "preuves", "messagerie", "historique", "produit")
NEXT = re.compile(r"apres=([A-Za-z0-9_\-]+)")


def targets(url: str, users: int) -> dict[str, Any]:
    """Accounts to sign in, and dossiers/sections each parcours can open (sampled)."""
    from sqlalchemy import create_engine, text

    from config import normalise_database_url

    engine = create_engine(normalise_database_url(url))
    with engine.connect() as conn:
        accounts = conn.execute(text(
            "SELECT u.id, t.parcours FROM user_account u JOIN user_team ut ON ut.user_id = u.id "
            "JOIN team t ON t.id = ut.team_id WHERE u.email LIKE 'verif.%' ORDER BY u.id"
        )).all()
        dossiers = conn.execute(text(
            "SELECT reference, demarche_code FROM candidature WHERE status = 'en_cours' "
            "ORDER BY id DESC LIMIT 4000")).all()
        sections = conn.execute(text(
            "SELECT c.reference, c.demarche_code, s.code FROM section_review s "
            "JOIN candidature c ON c.id = s.candidature_id WHERE c.status = 'en_cours' "
            "AND s.status IN ('soumise', 'en_revue') ORDER BY s.id DESC LIMIT 4000")).all()
    engine.dispose()
    by_parcours: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for reference, demarche in dossiers:
        by_parcours["segur" if demarche == "sons_sas" else "dmn"]["dossiers"].append(reference)
    for reference, demarche, code in sections:
        by_parcours["segur" if demarche == "sons_sas" else "dmn"]["sections"].append(
            f"{reference}/sections/{code}")
    # mostly DMN and Ségur vérificateurs in the proportion of their teams
    chosen = (accounts * (users // max(len(accounts), 1) + 1))[:users]
    return {"accounts": chosen, "targets": by_parcours}


class VirtualUser(threading.Thread):
    def __init__(self, port: int, user_id: int, targets: dict[str, list[str]], since: float,
                 until: float, seed: int, results: list[tuple[str, float, int]],
                 exclude: frozenset[str] = frozenset()) -> None:
        super().__init__(daemon=True)
        self.actions = {k: v for k, v in ACTIONS.items() if k not in exclude}
        self.port, self.user_id, self.targets = port, user_id, targets
        self.since, self.until = since, until
        self.rng = random.Random(seed)  # noqa: S311 - load pattern, not secrets
        self.results = results
        self.cookie = ""
        self.cursor: str | None = None

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Cookie": self.cookie} if self.cookie else {})
            response = conn.getresponse()
            body = response.read()
            cookie = response.getheader("Set-Cookie")
            if cookie:
                self.cookie = cookie.split(";", 1)[0]
            return response.status, body
        finally:
            conn.close()

    def path_for(self, action: str) -> str:
        rng, t = self.rng, self.targets
        if action == "home":
            return "/instruction/"
        if action == "queue_first":
            return "/instruction/file"
        if action == "queue_next":
            return f"/instruction/file?apres={self.cursor}" if self.cursor else "/instruction/file"
        if action == "queue_filtered":
            return f"/instruction/file?{rng.choice(FILTERS)}"
        if action == "dossier" and t.get("dossiers"):
            return f"/instruction/candidatures/{rng.choice(t['dossiers'])}"
        if action == "dossier_tab" and t.get("dossiers"):
            return (f"/instruction/candidatures/{rng.choice(t['dossiers'])}"
                    f"?onglet={rng.choice(TABS)}")
        if action == "section_review" and t.get("sections"):
            return f"/instruction/candidatures/{rng.choice(t['sections'])}"
        return "/instruction/sections"

    def run(self) -> None:
        status, _ = self.get(f"/_bench/session/{self.user_id}")
        if status != 200:
            self.results.append(("login", 0.0, status))
            return
        names, weights = list(self.actions), list(self.actions.values())
        while time.monotonic() < self.until:
            action = self.rng.choices(names, weights)[0]
            path = self.path_for(action)
            start = time.perf_counter()
            try:
                status, body = self.get(path)
            except (OSError, http.client.HTTPException):
                status, body = 599, b""
            if time.monotonic() >= self.since:  # the warm-up's requests are not counted
                self.results.append((action, (time.perf_counter() - start) * 1000, status))
            if action.startswith("queue") and status == 200:
                found = NEXT.search(body.decode("utf-8", "replace"))
                self.cursor = found.group(1) if found else None


@contextmanager
def bench_server(url: str, workers: int | None, work: Path | None) -> Iterator[tuple[int, int]]:
    """gunicorn serving the bench application over `url`: (port, workers)."""
    import shutil
    import tempfile

    workers = workers or int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1))
    own = work is None
    work = work or Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "", "PYTHONPATH": str(ROOT),
           "SECRET_KEY": "bench-only-secret-key", "INSTANCE_DIR": str(work),
           "SESSION_COOKIE_SECURE": "false"}
    server, port = start_gunicorn("bench.app:create_bench_app()", env, work / "gunicorn.log",
                                  workers=workers)
    try:
        yield port, workers
    finally:
        server.terminate()
        server.wait(timeout=30)
        if own and not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


def run(url: str, users: int = 50, seconds: float = 60, workers: int | None = None,
        warmup: float = 10, work: Path | None = None,
        exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    plan = targets(url, users)
    with bench_server(url, workers, work) as (port, workers):
        results: list[tuple[str, float, int]] = []
        since = time.monotonic() + warmup
        until = since + seconds
        threads = [VirtualUser(port, user_id, plan["targets"][parcours], since, until, n,
                               results, exclude)
                   for n, (user_id, parcours) in enumerate(plan["accounts"])]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, since - time.monotonic()))
        start = time.perf_counter()
        for thread in threads:
            thread.join(timeout=seconds + warmup + 60)
        elapsed = time.perf_counter() - start
    return {**summarise(results, elapsed, users, workers), "excluded": sorted(exclude)}


def summarise(results: list[tuple[str, float, int]], elapsed: float, users: int,
              workers: int) -> dict[str, Any]:
    requests = [r for r in results if r[0] != "login"]
    times = [ms for _, ms, _ in requests]
    errors = [r for r in results if r[2] >= 400]
    by_action: dict[str, Any] = {}
    for action in ACTIONS:
        ms = [m for a, m, _ in requests if a == action]
        if ms:
            by_action[action] = measure.summary(ms)
    return {"users": users, "gunicorn_workers": workers, "seconds": round(elapsed, 1),
            "requests": len(requests),
            "requests_per_second": round(len(requests) / elapsed, 1) if elapsed else 0,
            **(measure.summary(times) if times else {}),
            "p99_ms": round(measure.percentile(times, 99), 1) if times else None,
            "errors": len(errors), "error_statuses": sorted({s for _, _, s in errors}),
            "by_action": by_action}


def run_wrk(url: str, users: int = 50, seconds: float = 60, workers: int | None = None,
            warmup: float = 10, think_ms: float = 0, work: Path | None = None,
            requests_per_user: int = 400) -> dict[str, Any]:
    """The same mix driven by wrk (C, from Debian's package): the load generator takes a
    fraction of the CPU the Python threads take, so that the figure is the server's.
    Each virtual vérificateur has its own session; their requests are drawn in advance
    (same weights), "next page" cursors read from the pages they reached."""
    import shutil
    import subprocess
    import tempfile

    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is missing (apt-get install wrk)")
    plan = targets(url, users)
    with bench_server(url, workers, work) as (port, workers), \
            tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        lines = _wrk_requests(port, plan, requests_per_user)
        script = Path(tmp) / "requests.tsv"
        script.write_text("".join(f"{cookie}\t{path}\n" for cookie, path in lines))
        lua = Path(__file__).with_name("load.lua")

        def wrk_run(duration: float) -> dict[str, Any]:
            out = subprocess.run(  # noqa: S603 - fixed arguments
                [wrk, "-t", "2", "-c", str(users), "-d", f"{max(duration, 1):.0f}s",
                 "--timeout", "30s", "-s", str(lua), f"http://127.0.0.1:{port}", "--",
                 str(script), str(think_ms)],
                capture_output=True, text=True, check=True, timeout=duration + 120)
            return json.loads(out.stdout.strip().splitlines()[-1])

        if warmup > 0:
            wrk_run(warmup)
        raw = wrk_run(seconds)
    elapsed = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {"client": "wrk", "users": users, "gunicorn_workers": workers,
            "think_ms_mean": think_ms, "seconds": round(elapsed, 1),
            "requests": raw["requests"],
            "requests_per_second": round(raw["requests"] / elapsed, 1) if elapsed else 0,
            "p50_ms": round(raw["p50_us"] / 1000, 1), "p95_ms": round(raw["p95_us"] / 1000, 1),
            "p99_ms": round(raw["p99_us"] / 1000, 1), "max_ms": round(raw["max_us"] / 1000, 1),
            "mean_ms": round(raw["mean_us"] / 1000, 1), "errors": errors,
            "error_kinds": raw["errors"], "distinct_requests": len(lines)}


def _wrk_requests(port: int, plan: dict[str, Any], per_user: int) -> list[tuple[str, str]]:
    """Sign every virtual vérificateur in, follow its queue a few pages for real "next
    page" cursors, draw its requests; interleave the users."""
    per_user_lines: list[list[tuple[str, str]]] = []
    for n, (user_id, parcours) in enumerate(plan["accounts"]):
        user = VirtualUser(port, user_id, plan["targets"][parcours], 0, 0, n, [])
        status, _ = user.get(f"/_bench/session/{user_id}")
        if status != 200:
            raise RuntimeError(f"session of user {user_id}: {status}")
        cursors: list[str] = []
        path = "/instruction/file"
        for _ in range(5):
            status, body = user.get(path)
            found = NEXT.search(body.decode("utf-8", "replace")) if status == 200 else None
            if not found:
                break
            cursors.append(found.group(1))
            path = f"/instruction/file?apres={found.group(1)}"
        names, weights = list(ACTIONS), list(ACTIONS.values())
        lines = []
        for _ in range(per_user):
            action = user.rng.choices(names, weights)[0]
            user.cursor = user.rng.choice(cursors) if cursors else None
            lines.append((user.cookie, user.path_for(action)))
        per_user_lines.append(lines)
    return [line for group in zip(*per_user_lines, strict=True) for line in group]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--warmup", type=float, default=10, help="seconds not counted")
    parser.add_argument("--exclude", default="", help="actions left out, e.g. home")
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk",
                        help="wrk (C, light on the shared CPU) or Python threads")
    parser.add_argument("--think-ms", type=float, default=0,
                        help="mean think time after each answer (wrk client); 0: none")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if args.client == "wrk":
        result = run_wrk(args.database_url, args.users, args.seconds, args.workers,
                         args.warmup, args.think_ms)
    else:
        result = run(args.database_url, args.users, args.seconds, args.workers, args.warmup,
                     exclude=frozenset(filter(None, args.exclude.split(","))))
    measure.report(result, args.output)


if __name__ == "__main__":
    main()
