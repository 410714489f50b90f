"""The page's tables, from the facts: what each row says, in French, in order. Every
chart of the page is drawn from one of these tables, and exported from it."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import DelayRule, Seance, User
from backoffice.statistics.common import (
    AGE_BUCKETS,
    END_TO_END_DAYS,
    END_TO_END_PARCOURS,
    PROJECTION_WEEKS,
    nearest_rank,
)
from backoffice.statistics.facts import Facts, Filters
from backoffice.workflow.definitions import DEMARCHES, STEPS, step_label

FLOW_KINDS = (("ouvertes", "Ouvertes"), ("soumises", "Soumises"), ("decidees", "Décidées"),
              ("accordees", "Certifiées ou référencées"), ("rejetees", "Rejetées"))
DECISION_LABELS = (("favorable", "Favorable"), ("defavorable", "Défavorable"),
                   ("ajournee", "Ajournée"))
TOP_EXIGENCES = 15


@dataclass
class Table:
    id: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    summary: str
    chart: str | None = None  # "lines": first column on x, one line per other column;
    # "bars": one bar per row (label: first column, length: column `value`);
    # "stacked": one bar per row, stacked from the columns from `value` on
    value: int = 1
    links: list[str | None] = field(default_factory=list)  # one per row, on its first cell


def fr(value: object) -> str:
    """A number as French writes it (1,5 ; 100,0)."""
    if value is None:
        return "—"
    return f"{value:g}".replace(".", ",") if isinstance(value, float) else str(value)


def week_label(week: date) -> str:
    return week.strftime("%d/%m/%Y")


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def steps_of(filters: Filters) -> list[str]:
    used = {s for code in filters.demarches for s in DEMARCHES[code].steps
            + (DEMARCHES[code].transitional_steps or ())}
    return [s for s in STEPS if s in used]


def stock(facts: Facts, filters: Filters) -> Table:
    steps = steps_of(filters)
    rows: list[list[Any]] = [[week_label(w)] + [facts.stock.get((w, s), 0) for s in steps]
            for w in filters.weeks]
    last = rows[-1] if rows else []
    total = sum(last[1:]) if last else 0
    detail = ", ".join(f"{n} à l'étape « {step_label(s)} »"
                       for s, n in zip(steps, last[1:], strict=True) if n)
    summary = f"À la fin de la période, {total} candidatures sont en cours" + (
        f", dont {detail}." if total else ".")
    return Table("stock", "Candidatures en cours par étape, en fin de semaine",
                 ["Semaine du"] + [step_label(s) for s in steps], rows, summary, "lines")


def ages(facts: Facts) -> Table:
    rows: list[list[Any]] = [[label, facts.ages.get(label, 0)] for _, label in AGE_BUCKETS]
    total = sum(r[1] for r in rows)
    old = sum(r[1] for r in rows[3:])
    summary = (f"{total} candidatures en cours ; {old} attendent depuis plus de 60 jours "
               "(depuis leur dépôt).")
    return Table("ages", "Ancienneté des candidatures en cours", ["Ancienneté", "Candidatures"],
                 rows, summary, "bars")


def retards(facts: Facts, filters: Filters) -> Table:
    rows: list[list[Any]]
    rows = [[step_label(s), facts.stock_now.get(s, 0), facts.retard_now.get(s, 0)]
            for s in steps_of(filters) if facts.stock_now.get(s, 0)]
    late = sum(r[2] for r in rows)
    worst = max(rows, key=lambda r: r[2], default=None)
    summary = f"{late} candidatures ont dépassé le délai de leur étape aujourd'hui" + (
        f", surtout à l'étape « {worst[0]} » ({worst[2]})." if worst and worst[2] else ".")
    return Table("retards", "Candidatures en retard par étape (aujourd'hui)",
                 ["Étape", "En cours", "En retard"], rows, summary, "bars")


def _delay(rules: dict, code: str, step: str) -> str:
    if step == "bout_en_bout":
        return (f"{END_TO_END_DAYS} j (6 mois)"
                if DEMARCHES[code].parcours.value == END_TO_END_PARCOURS else "—")
    rule = rules.get((code, step))
    if rule is None:
        return "—"
    return f"{rule.days} j ouvrés" if rule.working_days else f"{rule.days} j"


def delais(facts: Facts, filters: Filters) -> Table:
    rules = {(r.demarche_code, r.step): r for r in db.scalars(select(DelayRule))}
    histograms: dict[tuple[str, str], Counter] = {}
    inside: Counter = Counter()
    for (code, step, days, within), n in facts.leads.items():
        histograms.setdefault((code, step), Counter())[days] += n
        inside[(code, step)] += n if within else 0
    rows: list[list[Any]] = []
    order = [*steps_of(filters), "bout_en_bout"]
    for code in filters.demarches:
        for step in order:
            histogram = histograms.get((code, step))
            count = sum(histogram.values()) if histogram else 0
            if histogram is None or not count:
                continue
            has_delay = _delay(rules, code, step) != "—"
            rows.append([DEMARCHES[code].label,
                         "De bout en bout" if step == "bout_en_bout" else step_label(step),
                         count, nearest_rank(histogram, 0.5), nearest_rank(histogram, 0.9),
                         _delay(rules, code, step),
                         percent(inside[(code, step)], count) if has_delay else None])
    decided = sum(r[2] for r in rows if r[1] != "De bout en bout")
    within_total = sum(n for (c, s), n in inside.items() if s != "bout_en_bout")
    share = fr(percent(within_total, decided))
    summary = (f"{decided} décisions d'étape sur la période, dont {share} % dans le délai"
               " (pauses pour compléments ou modifications non comptées)."
               if decided else "Aucune décision d'étape sur la période.")
    return Table("delais", "Délais de traitement par étape (jours)",
                 ["Démarche", "Étape", "Décisions", "Médiane", "9e décile", "Délai",
                  "Dans le délai (%)"], rows, summary)


def tours(facts: Facts) -> Table:
    sections: dict[str, Counter] = {}
    for (code, rounds), n in facts.tours.items():
        if n:
            sections.setdefault(code, Counter())[rounds] += n
    rows: list[list[Any]] = []
    for code in sorted(sections):
        histogram = sections[code]
        count = sum(histogram.values())
        rows.append([code, count, round(sum(r * n for r, n in histogram.items()) / count, 2),
                     percent(histogram.get(1, 0), count), max(histogram)])
    total = sum(r[1] for r in rows)
    many = max(rows, key=lambda r: r[2], default=None)
    summary = (f"{total} sections validées sur la période"
               + (f" ; la section {many[0]} demande le plus de tours ({fr(many[2])} en moyenne)."
                  if many else "."))
    return Table("tours", "Tours de revue par section (sections validées)",
                 ["Section", "Sections validées", "Tours en moyenne", "Validées au 1er tour (%)",
                  "Tours au plus"], rows, summary, "bars", value=2)


def exigences(facts: Facts, link: Any = None) -> Table:
    keys = {(code, version) for code, version, _ in facts.exigences}
    ranked = sorted(((facts.exigences.get((c, v, "nc"), 0), c, v) for c, v in keys),
                    key=lambda t: (-t[0], t[1], t[2]))
    rows, links = [], []
    for nc, code, version in ranked[:TOP_EXIGENCES]:
        if not nc:
            break
        judged = facts.exigences.get((code, version, "jugees"), 0)
        rows.append([code, nc, version or "—", judged, percent(nc, judged)])
        links.append(link(code) if link else None)
    summary = (f"L'exigence la plus souvent jugée non conforme est {rows[0][0]} "
               f"({rows[0][1]} fois, {fr(rows[0][4])} % des jugements)." if rows
               else "Aucune exigence jugée non conforme sur la période.")
    return Table("exigences", "Exigences les plus souvent jugées non conformes",
                 ["Exigence", "Non conforme", "Référentiel", "Jugements", "Part non conforme (%)"],
                 rows, summary, "bars", links=links)


def flux(facts: Facts, filters: Filters) -> Table:
    rows: list[list[Any]]
    rows = [[week_label(w)] + [facts.flux.get((w, k), 0) for k, _ in FLOW_KINDS]
            for w in filters.weeks]
    totals = [sum(r[i + 1] for r in rows) for i in range(len(FLOW_KINDS))]
    summary = ("Sur la période : " + ", ".join(
        f"{n} {label.lower()}" for n, (_, label) in zip(totals, FLOW_KINDS, strict=True)) + ".")
    return Table("flux", "Entrées et sorties par semaine (candidatures)",
                 ["Semaine du"] + [label for _, label in FLOW_KINDS], rows, summary, "lines")


def seances(facts: Facts) -> Table:
    ids = sorted({i for i, _ in facts.seances})
    known = {s.id: s for s in db.scalars(select(Seance).where(Seance.id.in_(ids)))} if ids else {}
    rows: list[list[Any]] = []
    for seance in sorted(known.values(), key=lambda s: (s.date, s.id)):
        rows.append([seance.label, seance.date.strftime("%d/%m/%Y")]
                    + [facts.seances.get((seance.id, d), 0) for d, _ in DECISION_LABELS])
    fav = sum(r[2] for r in rows)
    total = sum(sum(r[2:]) for r in rows)
    summary = (f"{len(rows)} séances, {total} décisions dont {fav} favorables."
               if rows else "Aucune décision du collège sur la période.")
    return Table("seances", "Décisions du collège par séance",
                 ["Séance", "Date"] + [label for _, label in DECISION_LABELS], rows, summary,
                 "stacked", value=2)


def charge(facts: Facts, filters: Filters) -> Table:
    ids = sorted(set(facts.decisions) | set(facts.attributions))
    users = dict(db.execute(select(User.id, User.name).where(User.id.in_(ids))).tuples()
                 .all()) if ids else {}
    weeks = len(filters.weeks) or 1
    rows: list[list[Any]]
    rows = [[users[i], facts.attributions.get(i, 0), facts.decisions.get(i, 0),
             round(facts.decisions.get(i, 0) / weeks, 1)]
            for i in sorted(users, key=lambda i: (users[i], i))]
    busiest = max(rows, key=lambda r: r[1], default=None)
    summary = (f"{len(rows)} agents ; le plus chargé ({busiest[0]}) a {busiest[1]} dossiers "
               "attribués." if busiest else "Aucun dossier attribué ni décision.")
    return Table("charge", "Charge par vérificateur",
                 ["Agent", "Dossiers attribués", "Décisions sur la période",
                  "Décisions par semaine"], rows, summary, "bars")


def projection(facts: Facts, filters: Filters) -> Table:
    rows: list[list[Any]] = []
    for step in steps_of(filters):
        waiting = facts.stock_now.get(step, 0)
        if not waiting:
            continue
        pace = round(facts.sorties.get(step, 0) / PROJECTION_WEEKS, 1)
        weeks = math.ceil(waiting / pace) if pace else None
        rows.append([step_label(step), waiting, pace, weeks])
    slowest = max((r for r in rows if r[3] is not None), key=lambda r: r[3], default=None)
    summary = ("Au rythme des 8 dernières semaines, l'étape la plus longue à résorber est "
               f"« {slowest[0]} » ({slowest[3]} semaines)." if slowest
               else "Pas assez de sorties pour une projection.")
    return Table("projection", "Projection : semaines pour résorber le stock actuel",
                 ["Étape", "En cours", "Sorties par semaine (8 dernières)",
                  "Semaines pour résorber"], rows, summary, "bars", value=3)


def build(facts: Facts, filters: Filters, which: tuple[str, ...], link: Any = None) -> list[Table]:
    makers = {
        "stock": lambda: stock(facts, filters), "ages": lambda: ages(facts),
        "retards": lambda: retards(facts, filters), "delais": lambda: delais(facts, filters),
        "tours": lambda: tours(facts), "exigences": lambda: exigences(facts, link),
        "flux": lambda: flux(facts, filters), "seances": lambda: seances(facts),
        "charge": lambda: charge(facts, filters),
        "projection": lambda: projection(facts, filters),
    }
    return [makers[name]() for name in which]
