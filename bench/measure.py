"""Timing, SQL counting and memory helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2),
            "p95_ms": round(percentile(ms, 95), 2), "mean_ms": round(statistics.mean(ms), 2),
            "max_ms": round(max(ms), 2)}


@dataclass
class Statements:
    """The SQL statements a block ran (transaction control left out) and their time."""

    sql: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.sql)


@contextmanager
def sql_statements(engine: Engine) -> Iterator[Statements]:
    found = Statements()

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_started"].pop()
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            found.sql.append(statement)
            found.seconds += time.perf_counter() - started

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def timed_requests(call: Callable[[], Any], engine: Engine, repeat: int,
                   warmup: int = 2, before: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Run `call` (one request, checked by the caller) warmup + repeat times; report the
    server time percentiles, the SQL statements of the last run and their share of time.
    `before`, if given, runs ahead of each call, untimed (e.g. a colleague's commit)."""
    return interleaved({"call": (call, before)}, engine, repeat, warmup)["call"]


def interleaved(calls: dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]],
                engine: Engine, repeat: int, warmup: int = 2) -> dict[str, dict[str, Any]]:
    """`timed_requests` for several calls taken in turn (a, b, c, a, b, c…): on a shared
    machine a burst of load falls on all of them alike, so their ratios hold even when
    their absolute times do not. Each call is `(call, before)`, `before` untimed or None."""
    for _ in range(warmup):
        for call, before in calls.values():
            if before:
                before()
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    sql_ms: dict[str, list[float]] = {name: [] for name in calls}
    queries: dict[str, int] = {}
    for _ in range(repeat):
        for name, (call, before) in calls.items():
            if before:
                before()
            with sql_statements(engine) as statements:
                start = time.perf_counter()
                call()
                elapsed = time.perf_counter() - start
            times[name].append(elapsed * 1000)
            sql_ms[name].append(statements.seconds * 1000)
            queries[name] = len(statements)
    out: dict[str, dict[str, Any]] = {}
    for name in calls:
        out[name] = summary(times[name])
        out[name]["queries"] = queries[name]
        out[name]["sql_p50_ms"] = round(percentile(sql_ms[name], 50), 2)
    return out


# --- memory (Linux /proc) ---------------------------------------------------------------


def _status(pid: int | str, key: str) -> int:
    """A VmRSS / VmHWM value of /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def rss(pid: int | str = "self") -> int:
    return _status(pid, "VmRSS")


def peak_rss(pid: int | str = "self") -> int:
    return _status(pid, "VmHWM")


def reset_peak(pid: int | str = "self") -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


MB = 1024 * 1024


def report(result: dict[str, Any], output: Path | None, *, quiet: bool = False) -> None:
    """A script's result as JSON: written to `output` if given, printed unless `quiet`
    (then only where it went)."""
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n")
    print(f"written to {output}" if quiet and output else text)
