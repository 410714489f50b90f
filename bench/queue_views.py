"""The queue's views and search at scale (issue 18, items 2–3; docs/workspace.md):

    python -m bench.queue_views --database-url URL [--repeat 30] [--output FILE]

For each path, as the measuring vérificateur: server-time percentiles over `repeat`
requests, taken in turn with as many requests of the plain queue (the ratio is read
between the two, measured side by side), and for every SQL statement of one request its
EXPLAIN (ANALYZE, BUFFERS): the rows the scans examined (rows returned by scan nodes plus
rows they removed by filter) and the shared buffers touched. Read-only: the database is
not changed."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from backoffice.db import db
from backoffice.models import Candidature, Certificat, Organisation
from bench import measure


def _facts(app) -> dict[str, str | None]:
    with app.app_context():
        closed = db.scalar(select(Candidature.reference).where(
            Candidature.status == "rejetee", Candidature.demarche_code == "sons_sas")
            .order_by(Candidature.id.desc()).limit(1))
        opened = db.scalar(select(Candidature.reference).where(
            Candidature.status == "en_cours", Candidature.demarche_code == "sons_sas")
            .order_by(Candidature.id.desc()).limit(1))
        # a dossier from the middle of the table: its reference is no more likely than any
        # other to be one of the planner's histogram samples (the newest one can be)
        in_progress = select(Candidature.id).where(
            Candidature.status == "en_cours", Candidature.demarche_code == "sons_sas")
        middle = db.scalar(select(Candidature.reference).where(Candidature.id == db.scalar(
            in_progress.order_by(Candidature.id).offset(
                db.scalar(select(func.count()).select_from(in_progress.subquery())) // 2)
            .limit(1))))
        # the campaign windows with the most and the fewest candidatures in progress
        per_window = db.execute(
            select(Candidature.campaign_window_id, func.count())
            .where(Candidature.status == "en_cours",
                   Candidature.campaign_window_id.is_not(None))
            .group_by(Candidature.campaign_window_id).order_by(func.count(),
                                                               Candidature.campaign_window_id)
        ).all()
        number = db.scalar(select(Certificat.number).order_by(Certificat.id.desc()).limit(1))
        siret = db.scalar(select(Organisation.siret).join(
            Candidature, Candidature.organisation_id == Organisation.id)
            .where(Organisation.siret.is_not(None)).order_by(Organisation.id).limit(1))
    return {"closed_reference": closed, "open_reference": opened, "certificate": number,
            "siret": siret,
            # six letters of a reference: a term that names one or two dossiers, and no
            # exact reference (nine letters), so it goes through the search
            "rare_term": opened[1:7].lower() if opened else None,
            "rare_term_middle": middle[1:7].lower() if middle else None,
            "campaign_large": str(per_window[-1][0]) if per_window else None,
            "campaign_large_open": per_window[-1][1] if per_window else None,
            "campaign_rare": str(per_window[0][0]) if per_window else None,
            "campaign_rare_open": per_window[0][1] if per_window else None}


PLAIN = "a_traiter (plain queue)"


def scenarios(facts: dict[str, str | None]) -> dict[str, tuple[str, int]]:
    out = {
        "a_traiter (plain queue)": ("/instruction/file", 200),
        "suivis": ("/instruction/file?vue=suivis", 200),
        # the steps the user holds, and the count of the sections they hold (0028)
        "mes dossiers": ("/instruction/file?attribution=moi", 200),
        "traites": ("/instruction/file?vue=traites", 200),
        "traites, statut rejetee": ("/instruction/file?vue=traites&statut=rejetee", 200),
        "traites by activity": ("/instruction/file?vue=traites&tri=activite", 200),
        "tous": ("/instruction/file?vue=tous", 200),
        "tous, search name": ("/instruction/file?vue=tous&q=cardiotrack", 200),
        "tous, search frequent prefix": ("/instruction/file?vue=tous&q=care", 200),
        # the user's follows searched (a rare term: the index's matches probed; a frequent
        # one: the page walks the sort's index, the count the follows)
        "suivis, search name": ("/instruction/file?vue=suivis&q=cardiotrack", 200),
        "suivis, search frequent prefix": ("/instruction/file?vue=suivis&q=care", 200),
        "mes dossiers, search frequent prefix": (
            "/instruction/file?attribution=moi&q=care", 200),
        "bulk confirmation (unassigned)": (
            "/instruction/file/attribuer-tout?attribution=personne", 200),
    }
    if facts["rare_term"]:
        out["search rare term"] = (f"/instruction/file?q={facts['rare_term']}", 200)
        out["tous, search rare term"] = (
            f"/instruction/file?vue=tous&q={facts['rare_term']}", 200)
    if facts.get("rare_term_middle"):
        out["tous, search rare term (middle dossier)"] = (
            f"/instruction/file?vue=tous&q={facts['rare_term_middle']}", 200)
    out["search name"] = ("/instruction/file?q=cardiotrack", 200)
    out["search frequent prefix"] = ("/instruction/file?q=care", 200)
    for size in ("large", "rare"):
        if facts[f"campaign_{size}"]:
            out[f"campaign filter ({size})"] = (
                f"/instruction/file?campagne={facts[f'campaign_{size}']}", 200)
            out[f"tous, campaign filter ({size})"] = (
                f"/instruction/file?vue=tous&campagne={facts[f'campaign_{size}']}", 200)
    if facts["open_reference"]:
        out["exact reference of an open dossier"] = (
            f"/instruction/file?q={facts['open_reference']}", 302)
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


def explain_request(app, client, path: str,
                    settings: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) of every SELECT one request of `path` runs; `settings`:
    statements run first on the explaining connection (e.g. "SET enable_seqscan = off")."""
    engine = app.extensions["db_engine"]
    if engine.dialect.name != "postgresql":  # EXPLAIN (ANALYZE, BUFFERS) is PostgreSQL's
        return []
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
        for setting in settings:
            conn.exec_driver_sql(setting)
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
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
        paths = scenarios(facts)

        def caller(path: str, status: int):
            def call() -> None:
                response = client.get(path)
                if response.status_code != status:
                    raise RuntimeError(f"GET {path}: {response.status_code}")
            return call

        plain = caller(*paths[PLAIN])
        for name, (path, status) in paths.items():
            # each path taken in turn with the plain queue: a burst of the machine's other
            # load falls on both alike, and the ratio is read between the two
            if name == PLAIN:
                timing = measure.timed_requests(plain, engine, repeat)
                beside = timing
            else:
                both = measure.interleaved({PLAIN: (plain, None),
                                            name: (caller(path, status), None)},
                                           engine, repeat)
                timing, beside = both[name], both[PLAIN]
            statements = explain_request(app, client, path)
            results["paths"][name] = {
                "url": path, "p50_ms": timing["p50_ms"], "p95_ms": timing["p95_ms"],
                "plain_p95_ms": beside["p95_ms"],
                "p95_ratio": round(timing["p95_ms"] / beside["p95_ms"], 2),
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
    lines = ["| path | queries | rows examined (all statements) | max one statement | "
             "buffers | p50 ms | p95 ms | plain p95 beside | p95 / plain |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["paths"].items():
        lines.append(f"| {name} | {r['queries']} | {r['rows_examined']:,} "
                     f"| {r['max_statement_rows_examined']:,} | {r['buffers']:,} "
                     f"| {r['p50_ms']} | {r['p95_ms']} | {r['plain_p95_ms']} "
                     f"| {r['p95_ratio']:.2f} |")
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
