"""Queue-page latency against data size, back-office and Flask-Admin baseline:

    python -m bench.plot RUN.json [RUN.json ...] --output docs/benchmarks/queue-latency.png

Each RUN.json is an output of bench.run (one data size each); PostgreSQL and SQLite runs
are separate series.
Needs matplotlib (pip install -e '.[bench]')."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SERIES = (
    ("backoffice", "first", "back-office, 1re page", "-", "o"),
    ("backoffice", "deep", "back-office, page ~1000 (keyset)", "-", "s"),
    ("baseline", "first", "Flask-Admin, 1re page", "--", "o"),
    ("baseline", "deep", "Flask-Admin, page ~1000 (OFFSET)", "--", "s"),
    ("baseline", "deep_sorted_by_date", "Flask-Admin, page ~1000 triée par date", ":", "^"),
)


def points(runs: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for run in runs:
        engine = run["database"]["engine"]
        engine = "SQLite" if "SQLite" in engine else "PostgreSQL"
        size = run["dataset"]["candidatures"]
        for side, name, label, _, _ in SERIES:
            stats = run.get("queue", {}).get(side, {}).get(name)
            if isinstance(stats, dict):
                out.setdefault((engine, label), []).append((size, stats["p95_ms"]))
    return {k: sorted(v) for k, v in out.items()}


def plot(runs: list[dict[str, Any]], output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {label: (line, marker) for _, _, label, line, marker in SERIES}
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    colours = {"PostgreSQL": ("#000091", "#e1000f"), "SQLite": ("#6a6af4", "#ff9575")}
    for (engine, label), values in points(runs).items():
        line, marker = styles[label]
        colour = colours[engine][0 if label.startswith("back-office") else 1]
        ax.plot([x for x, _ in values], [y for _, y in values], linestyle=line, marker=marker,
                color=colour, label=f"{label} ({engine})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(50, color="grey", linewidth=0.8, linestyle="-.")
    ax.text(0.99, 50, "objectif p95 ≤ 50 ms ", color="grey", fontsize=8, ha="right",
            va="bottom", transform=ax.get_yaxis_transform())
    ax.set_xlabel("candidatures en base")
    ax.set_ylabel("temps serveur p95 (ms, échelle log)")
    ax.set_title("File des candidatures : latence selon la volumétrie\n"
                 "(temps serveur p95, même exécution pour le back-office et Flask-Admin)",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left")
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks/queue-latency.png"))
    args = parser.parse_args(argv)
    plot([json.loads(p.read_text()) for p in args.runs], args.output)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
