"""The queue's views and search at scale (issue 18, items 2–3; docs/workspace.md):

    python -m bench.queue_views --database-url URL [--repeat 30] [--output FILE]

For each path, as the measuring vérificateur: server-time percentiles over `repeat`
requests, and for every SQL statement of one request its EXPLAIN (ANALYZE, BUFFERS):
the rows the scans examined (rows returned by scan nodes plus rows they removed by
filter) and the shared buffers touched. Read-only: the database is not changed."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from backoffice.db import db
from backoffice.models import Candidature, Certificat, Organisation
from bench import measure


def _facts(app) -> dict[str, str | None]:
    with app.app_context():
        closed = db.scalar(select(Candidature.reference).where(
            Candidature.status == "rejetee", Candidature.demarche_code == "sons_sas")
            .order_by(Candidature.id.desc()).limit(1))
        number = db.scalar(select(Certificat.number).order_by(Certificat.id.desc()).limit(1))
        siret = db.scalar(select(Organisation.siret).join(
            Candidature, Candidature.organisation_id == Organisation.id)
            .where(Organisation.siret.is_not(None)).order_by(Organisation.id).limit(1))
    return {"closed_reference": closed, "certificate": number, "siret": siret}


def scenarios(facts: dict[str, str | None]) -> dict[str, tuple[str, int]]:
    out = {
        "a_traiter (plain queue)": ("/instruction/file", 200),
        "suivis": ("/instruction/file?vue=suivis", 200),
        "traites": ("/instruction/file?vue=traites", 200),
        "traites, statut rejetee": ("/instruction/file?vue=traites&statut=rejetee", 200),
        "traites by activity": ("/instruction/file?vue=traites&tri=activite", 200),
        "tous": ("/instruction/file?vue=tous", 200),
        "tous, search name": ("/instruction/file?vue=tous&q=cardiotrack", 200),
        "tous, search frequent prefix": ("/instruction/file?vue=tous&q=care", 200),
        "bulk confirmation (unassigned)": (
            "/instruction/file/attribuer-tout?attribution=personne", 200),
    }
    if facts["siret"]:
        out["tous, search SIRET"] = (f"/instruction/file?vue=tous&q={facts['siret']}", 200)
    if facts["closed_reference"]:
        out["exact reference of a rejected dossier"] = (
            f"/instruction/file?q={facts['closed_reference']}", 302)
    if facts["certificate"]:
        out["exact certificate number"] = (f"/instruction/file?q={facts['certificate']}", 302)
    return out


def _walk(plan: dict[str, Any]) -> int:
    """Rows examined by the scans of a plan node and its children: returned + removed by
    filter, times the loops."""
    examined = 0
    loops = plan.get("Actual Loops", 1)
    if "Scan" in plan["Node Type"]:
        examined += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
                     + plan.get("Rows Removed by Index Recheck", 0)) * loops
    for child in plan.get("Plans", []):
        examined += _walk(child)
    return examined


def explain_request(app, client, path: str) -> list[dict[str, Any]]:
    engine = app.extensions["db_engine"]
    seen: list[tuple[str, Any]] = []

    def after(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(path)
    finally:
        event.remove(engine, "after_cursor_execute", after)
    out = []
    with engine.connect() as conn:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            (plan,), = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters).all()
            root = plan[0]["Plan"]
            out.append({
                "statement": " ".join(statement.split())[:160],
                "ms": round(plan[0]["Execution Time"], 2),
                "rows_examined": _walk(root),
                "buffers": root.get("Shared Hit Blocks", 0) + root.get("Shared Read Blocks", 0),
            })
    return out


def run(database_url: str, repeat: int) -> dict[str, Any]:
    from bench.run import make_app, signed_in_client

    with tempfile.TemporaryDirectory(prefix="bench-views-") as tmp:
        app = make_app(database_url, Path(tmp))
        client, _ = signed_in_client(app)
        engine = app.extensions["db_engine"]
        facts = _facts(app)
        results: dict[str, Any] = {"facts": facts, "load_before": _load(), "paths": {}}
        for name, (path, status) in scenarios(facts).items():
            def call(path=path, status=status) -> None:
                response = client.get(path)
                if response.status_code != status:
                    raise RuntimeError(f"GET {path}: {response.status_code}")

            timing = measure.timed_requests(call, engine, repeat)
            statements = explain_request(app, client, path)
            results["paths"][name] = {
                "url": path, "p50_ms": timing["p50_ms"], "p95_ms": timing["p95_ms"],
                "queries": timing["queries"],
                "rows_examined": sum(s["rows_examined"] for s in statements),
                "max_statement_rows_examined": max(
                    (s["rows_examined"] for s in statements), default=0),
                "buffers": sum(s["buffers"] for s in statements),
                "statements": statements,
            }
        results["load_after"] = _load()
        engine.dispose()
    return results


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def table(results: dict[str, Any]) -> str:
    plain = results["paths"]["a_traiter (plain queue)"]["p95_ms"]
    lines = ["| path | queries | rows examined (all statements) | buffers | p50 ms | "
             "p95 ms | p95 / plain |", "|---|---|---|---|---|---|---|"]
    for name, r in results["paths"].items():
        lines.append(f"| {name} | {r['queries']} | {r['rows_examined']:,} | {r['buffers']:,} "
                     f"| {r['p50_ms']} | {r['p95_ms']} | {r['p95_ms'] / plain:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    started = time.time()
    results = run(args.database_url, args.repeat)
    results["seconds"] = round(time.time() - started)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2, default=str))
    print(table(results))
    print(f"load average before {results['load_before']}, after {results['load_after']}")


if __name__ == "__main__":
    main()
