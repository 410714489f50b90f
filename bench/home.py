"""The home page beside the queue's first page, in one run, whether or not something just
moved (issue 19 target: home ≤ 1.5× the queue page either way):

    python -m bench.home --database-url URL [--repeat 50] [--output FILE]

- queue: GET /instruction/file as the bench's lead vérificateur, nothing moved since the
  previous request (queue_after_move: right after a move, which makes it reload the
  colleagues and campaign windows it keeps, queues/cache.py);
- home: GET /instruction/ (counts kept by the transactions, models/queue_count.py);
- home_after_move: the same, each request right after another session moved a candidature
  (took it, then released it: a committed transition each time); the move itself is not
  timed (it runs before each request, in its own session);
- recomputed_counts: the former way, one pass over the candidatures in progress (what the
  home page paid whenever a move had invalidated the cache), timed alone.

The four pages are requested in turn (measure.interleaved), so that their ratios hold on
a shared machine; the load average before and after is recorded.

The bench database needs its counts: `flask recompter-files`, or bench.generate (which
recounts what it loaded)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from backoffice.db import db, utcnow
from backoffice.models import Candidature, User
from backoffice.queues.overview import recomputed_counts
from backoffice.queues.turns import ans_turn
from backoffice.workflow import assignment
from backoffice.workflow.definitions import DEMARCHES
from bench import measure
from bench.run import _get, make_app, signed_in_client


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _mover(app, user_id: int):
    """A colleague's commit that moves a candidature in the queues (take, then release)."""
    with app.app_context():
        reference = db.scalar(select(Candidature.reference).where(
            Candidature.status == "en_cours", ans_turn(),
            Candidature.queue_assignee_id.is_(None),
            Candidature.demarche_code.in_(tuple(sorted(DEMARCHES)))).limit(1))
    state = {"taken": False}

    def move() -> None:
        with app.app_context():
            candidature = db.scalar(select(Candidature).where(
                Candidature.reference == reference).with_for_update())
            actor = db.get(User, user_id)
            if state["taken"]:
                assignment.liberer(candidature, actor=actor)
            else:
                assignment.prendre(candidature, actor=actor)
            db.commit()
            db.remove()
            state["taken"] = not state["taken"]

    return move


def run(url: str, repeat: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-home-"))
    app = make_app(url, workdir)
    engine = app.extensions["db_engine"]
    client, user_id = signed_in_client(app)
    move = _mover(app, user_id)
    home = _get(client, "/instruction/")
    queue = _get(client, "/instruction/file")
    out: dict[str, Any] = {"loadavg_before": _loadavg()}
    # taken in turn, so that a burst of the machine's other load falls on all alike:
    # move + home, move + queue (which reloads the lists a move invalidates), then the
    # quiet home and the quiet queue (nothing moved since the previous request)
    out.update(measure.interleaved({"home_after_move": (home, move),
                                    "queue_after_move": (queue, move),
                                    "home": (home, None), "queue": (queue, None)},
                                   engine, repeat))
    moves = []
    for _ in range(repeat):
        start = time.perf_counter()
        move()
        moves.append((time.perf_counter() - start) * 1000)
    out["move_alone"] = measure.summary(moves)
    with app.app_context():
        demarches = tuple(sorted(DEMARCHES))
        timings = []
        for _ in range(max(3, repeat // 5)):
            start = time.perf_counter()
            recomputed_counts(demarches, utcnow())
            timings.append((time.perf_counter() - start) * 1000)
        out["recomputed_counts"] = measure.summary(timings)
    queue_p95 = out["queue"]["p95_ms"]
    out["ratios_p95"] = {
        "home / queue": round(out["home"]["p95_ms"] / queue_p95, 2),
        "home_after_move / queue": round(out["home_after_move"]["p95_ms"] / queue_p95, 2),
        "home_after_move / queue_after_move": round(
            out["home_after_move"]["p95_ms"] / out["queue_after_move"]["p95_ms"], 2),
        "recomputed_counts / queue": round(out["recomputed_counts"]["p95_ms"] / queue_p95, 2),
    }
    out["loadavg_after"] = _loadavg()
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    measure.report(run(args.database_url, args.repeat), args.output)


if __name__ == "__main__":
    main()
