"""Référentiel versions, from data/referentiels.json (which version, read where).

A version is identified by (code, version). A candidature keeps the version it took at
recevabilité, so a version that a candidature uses is never rewritten: a changed file is
then reported, and the change goes out as a new version. An unused version follows the
file. A version created here becomes the one in force (an admin's import of a later
version is not undone by re-running the load: an existing version's flag is left alone)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from backoffice.db import db
from backoffice.models import (
    Candidature,
    Profil,
    Referentiel,
    ReferentielExigence,
    ReferentielSection,
)
from backoffice.reference import merge
from backoffice.reference.files import ReferenceDataError, entries, read

NAME = "referentiels.json"
KIND = "referentiel"


def parse(code: str, source: dict[str, Any]) -> dict[str, Any]:
    """The part of referentiel.json a version is made of: label, sections, profils."""
    try:
        sections = [
            {"code": s["code"], "title": s["title"], "exigences": [
                {"code": e["code"], "title": e["title"], "statement": e.get("statement", ""),
                 "expected_preuves": e.get("expected_preuves", []),
                 "criticite": e.get("criticite")}
                for e in s["exigences"]]}
            for s in source["sections"]]
        if code == "dmn":
            label = source["referentiel"]["name"]
            profils = [{"code": p["code"], "label": p["label"], "sections": p["selects"]}
                       for p in source["profils"]]
        else:  # SONS SAS: one profil, every section (the guide's « Profil Général »)
            label = source["demarche"]["label"]
            profils = [{"code": "GENERAL", "label": "Profil Général",
                        "sections": [s["code"] for s in sections]}]
    except (KeyError, TypeError) as error:
        raise ReferenceDataError(
            f"Référentiel {code} : champ attendu absent ou mal formé ({error}).") from None
    return {"label": label, "sections": sections, "profils": profils}


def load(content: dict[str, Any], report: merge.Report, data_dir: Path) -> None:
    rows = entries(content, "referentiels", NAME, ("code", "version", "file", "key"))
    cache: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["code"] not in ("dmn", "sons_sas"):
            raise ReferenceDataError(f"{NAME} : code de référentiel inconnu « {row['code']} ».")
        if row["file"] not in cache:
            cache[row["file"]] = read(row["file"], data_dir)
        if row["key"] not in cache[row["file"]]:
            raise ReferenceDataError(f"{row['file']} : la partie « {row['key']} » est absente.")
        wanted = parse(row["code"], cache[row["file"]][row["key"]])
        _version(row["code"], row["version"], wanted, report)
    db.flush()


def _digest(wanted: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()


def _version(code: str, version: str, wanted: dict[str, Any], report: merge.Report) -> None:
    key, digest = f"{code}/{version}", _digest(wanted)
    existing = db.scalar(select(Referentiel).where(Referentiel.code == code,
                                                   Referentiel.version == version))
    snap = merge.snapshot(KIND, key)
    if existing is None:
        for other in db.scalars(select(Referentiel).where(Referentiel.code == code)):
            other.current = False
        referentiel = Referentiel(code=code, version=version, current=True)
        _fill(referentiel, wanted)
        merge.create(KIND, key, referentiel, {"digest": digest}, report)
        return
    if snap is not None and snap.values.get("digest") == digest:
        return
    used = db.scalar(select(func.count()).select_from(Candidature)
                     .where(Candidature.referentiel_id == existing.id))
    if used:
        report.notes.append(
            f"Référentiel {code} {version} : utilisé par {used} candidature(s), non réécrit ; "
            "publiez la modification sous une nouvelle version.")
        return
    existing.sections.clear()
    existing.profils.clear()
    db.flush()  # the old sections' codes are free before the new ones arrive
    _fill(existing, wanted)
    report.updated[KIND] += 1
    merge.remember(KIND, key, {"digest": digest})


def _fill(referentiel: Referentiel, wanted: dict[str, Any]) -> None:
    referentiel.label = wanted["label"]
    for i, section in enumerate(wanted["sections"]):
        row = ReferentielSection(code=section["code"], title=section["title"], position=i)
        row.exigences = [
            ReferentielExigence(code=e["code"], title=e["title"], statement=e["statement"],
                                expected_preuves=e["expected_preuves"],
                                criticite=e["criticite"], position=j)
            for j, e in enumerate(section["exigences"])]
        referentiel.sections.append(row)
    referentiel.profils = [Profil(code=p["code"], label=p["label"], sections=p["sections"])
                           for p in wanted["profils"]]
