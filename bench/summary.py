"""Print a bench.run result as a table: `python -m bench.summary RUN.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def lines(result: dict) -> list[str]:
    out = [f"{result['database']['engine']} — {result['dataset']['candidatures']:,} "
           f"candidatures, {result['dataset']['visible_en_cours']:,} open and visible, "
           f"load {result['machine']['load_average']}"]
    for side in ("backoffice", "baseline"):
        for name, stats in result.get("queue", {}).get(side, {}).items():
            if isinstance(stats, dict):
                out.append(f"  {side:10} {name:30} p50 {stats['p50_ms']:9.1f}  p95 "
                           f"{stats['p95_ms']:9.1f}  sql {stats['sql_p50_ms']:9.1f}  "
                           f"queries {stats['queries']}")
    for name, stats in result.get("pages", {}).items():
        out.append(f"  {'page':10} {name:30} p50 {stats['p50_ms']:9.1f}  p95 "
                   f"{stats['p95_ms']:9.1f}  sql {stats['sql_p50_ms']:9.1f}  "
                   f"queries {stats['queries']}")
    for key in ("csv", "certificates", "budget"):
        if key in result:
            out.append(f"  {key}: {json.dumps(result[key])}")
    return out


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print("\n".join(lines(json.loads(Path(path).read_text()))))
