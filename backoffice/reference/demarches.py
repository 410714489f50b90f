"""The five démarches and their default delays, from data/demarches.json.

The steps are behaviour (each kind of step has its transitions in backoffice/workflow/),
so the file must list the very steps of workflow/definitions.py: it documents them for
operators and a mismatch stops the load rather than half-applying it. Labels and delays
follow the file; the switches an admin flips (open, phase transitoire) are only set when
the démarche is created."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import DelayRule, Demarche
from backoffice.reference import merge
from backoffice.reference.files import ReferenceDataError, entries
from backoffice.workflow.definitions import DEMARCHES, STEPS

NAME = "demarches.json"


def check(content: dict[str, Any]) -> list[dict[str, Any]]:
    rows = entries(content, "demarches", NAME, ("code", "label", "parcours", "steps"))
    codes = [row["code"] for row in rows]
    if sorted(codes) != sorted(DEMARCHES):
        raise ReferenceDataError(
            f"{NAME} : les démarches doivent être exactement {', '.join(sorted(DEMARCHES))} "
            f"(le fichier donne {', '.join(codes)}).")
    for row in rows:
        definition = DEMARCHES[row["code"]]
        expected = {"parcours": definition.parcours.value, "steps": list(definition.steps),
                    "transitional_steps": list(definition.transitional_steps or []) or None}
        found = {"parcours": row["parcours"], "steps": row["steps"],
                 "transitional_steps": row.get("transitional_steps") or None}
        if found != expected:
            raise ReferenceDataError(
                f"{NAME} : « {row['code']} » ne correspond pas aux étapes du code "
                f"(attendu {expected}, trouvé {found}).")
        steps = set(definition.steps) | set(definition.transitional_steps or ())
        for step, delay in (row.get("delays") or {}).items():
            if step not in steps:
                raise ReferenceDataError(
                    f"{NAME} : délai pour une étape inconnue de « {row['code']} » : {step}.")
            days = delay.get("days") if isinstance(delay, dict) else None
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
                raise ReferenceDataError(
                    f"{NAME} : le délai de {row['code']}/{step} doit être un nombre de jours "
                    "entre 1 et 365.")
    return rows


def load(content: dict[str, Any], report: merge.Report) -> None:
    for row in check(content):
        _demarche(row, report)
    db.flush()
    rules = {(r.demarche_code, r.step): r for r in db.scalars(select(DelayRule))}
    for row in content["demarches"]:
        for step, delay in (row.get("delays") or {}).items():
            _delay(row["code"], step, delay, rules.get((row["code"], step)), report)
    db.flush()


def _demarche(row: dict[str, Any], report: merge.Report) -> None:
    wanted = {"label": row["label"], "parcours": row["parcours"]}
    demarche = db.get(Demarche, row["code"])
    if demarche is None:
        merge.create("demarche", row["code"], Demarche(
            code=row["code"], active=True,
            phase_transitoire=bool(row.get("phase_transitoire")), **wanted), wanted, report)
    else:
        merge.sync("demarche", row["code"], demarche, wanted, report,
                   f"Démarche {row['code']}")


def _delay(code: str, step: str, delay: dict[str, Any], rule: DelayRule | None,
           report: merge.Report) -> None:
    key = f"{code}/{step}"
    wanted = {"days": delay["days"], "working_days": bool(delay.get("working_days")),
              "legal_basis": delay.get("legal_basis")}
    if rule is None:
        merge.create("delay_rule", key, DelayRule(demarche_code=code, step=step, **wanted),
                     wanted, report)
    else:
        merge.sync("delay_rule", key, rule, wanted, report,
                   f"Délai {key} ({STEPS[step].label})")
