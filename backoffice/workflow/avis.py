"""Ligne générique in phase transitoire: the vendor uploads one zip of preuves named after
the exigence codes (successive uploads supersede each other); the vérificateur gives an
avis informatif per exigence and overall."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from backoffice import audit
from backoffice.db import db
from backoffice.models import Avis, Candidature, Fichier, User, ZipPourAvis
from backoffice.workflow import delays
from backoffice.workflow.base import (
    Actor,
    InvalidInput,
    ensure_allowed,
    ensure_open,
    ensure_status,
    is_industriel_of,
    is_verificateur_for,
    now,
    require_text,
    touch,
    transition,
)
from backoffice.workflow.definitions import CandidatureStatus, StepKind
from backoffice.workflow.messages import post_system_message
from backoffice.workflow.steps import close


def current_zip(candidature: Candidature) -> ZipPourAvis | None:
    return db.scalar(select(ZipPourAvis).where(
        ZipPourAvis.candidature_id == candidature.id, ZipPourAvis.superseded_at.is_(None)))


@transition("pour_avis.deposer", StepKind.preuves_pour_avis,
            {"en_attente_depot", "deposees"}, {"deposees"})
def deposer_zip(candidature: Candidature, *, actor: Actor, fichier: Fichier,
                report: dict) -> ZipPourAvis:
    """preuves_pour_avis: en_attente_depot | deposees -> deposees (supersedes the last)."""
    ensure_allowed(is_industriel_of(actor, candidature))
    ensure_open(candidature)
    step = candidature.step("preuves_pour_avis")
    ensure_status(step, {"en_attente_depot", "deposees"}, "Le dépôt des preuves pour avis")
    at = now()
    previous = current_zip(candidature)
    if previous is not None:
        previous.superseded_at = at
    upload = ZipPourAvis(candidature_id=candidature.id, fichier_id=fichier.id, report=report)
    db.add(upload)
    before = step.status
    step.status, step.submitted_at = "deposees", step.submitted_at or at
    delays.start_clock(step, candidature.demarche_code, at)
    touch(candidature)
    db.flush()
    audit.record(actor, "pour_avis.deposer", upload, candidature=candidature,
                 before={"status": before},
                 after={"status": step.status, "fichier": fichier.original_name,
                        "supersedes": previous.id if previous else None})
    post_system_message(candidature, "pour_avis.deposees", name=fichier.original_name)
    return upload


@transition("pour_avis.rendre_avis", StepKind.preuves_pour_avis, {"deposees"}, {"avis_rendu"})
def rendre_avis(candidature: Candidature, *, actor: User, par_exigence: dict[str, str],
                message: str) -> None:
    """preuves_pour_avis: deposees -> avis_rendu; the candidature ends avis_rendu."""
    ensure_allowed(is_verificateur_for(actor, candidature))
    ensure_open(candidature)
    step = candidature.step("preuves_pour_avis")
    ensure_status(step, {"deposees"}, "Le dépôt des preuves pour avis")
    overall = require_text(message, "L'avis global est obligatoire.")
    upload = current_zip(candidature)
    if upload is None:
        raise InvalidInput("no_zip", "Aucune archive à examiner.")
    for code, text in par_exigence.items():
        if text and text.strip():
            db.add(Avis(candidature_id=candidature.id, zip_id=upload.id, exigence_code=code,
                        text=text.strip(), author_id=actor.id))
    db.add(Avis(candidature_id=candidature.id, zip_id=upload.id, exigence_code=None,
                text=overall, author_id=actor.id))
    before = step.status
    step.status, step.decided_at, step.decided_by = "avis_rendu", now(), actor
    close(candidature, CandidatureStatus.avis_rendu)
    touch(candidature)
    audit.record(actor, "pour_avis.rendre_avis", step, candidature=candidature,
                 before={"status": before},
                 after={"status": step.status, "exigences": sorted(par_exigence)})
    post_system_message(candidature, "pour_avis.avis_rendu", body=overall)


# --- reading a zip against the référentiel ---------------------------------------------


@dataclass
class Analysis:
    matched: dict[str, list[dict]]  # exigence code -> its entries
    unmatched: list[dict]
    missing: list[tuple[str, str]]  # (code, title) of exigences without any entry
    nested: list[str]


def _normalise(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text).strip().upper()


def match_code(entry_name: str, codes: list[str]) -> str | None:
    """The exigence an entry is named after: 'INS/INS_1.1.2 capture.pdf' -> 'INS 1.1'
    (the longest code that prefixes the file's name and is not followed by a digit)."""
    name = entry_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = _normalise(name.rsplit(".", 1)[0] if "." in name else name)
    best = None
    for code in codes:
        normal = _normalise(code)
        followed_by_digit = len(stem) > len(normal) and stem[len(normal)].isdigit()
        if stem.startswith(normal) and not followed_by_digit and \
                (best is None or len(normal) > len(_normalise(best))):
            best = code
    return best


def analyse(candidature: Candidature, upload: ZipPourAvis) -> Analysis:
    from backoffice.workflow.referentiels import selected_sections

    exigences = [(e.code, e.title) for s in selected_sections(candidature) for e in s.exigences]
    codes = [code for code, _ in exigences]
    matched: dict[str, list[dict]] = {code: [] for code in codes}
    unmatched: list[dict] = []
    for entry in upload.report.get("entries", []):
        code = match_code(entry["name"], codes)
        (matched[code] if code else unmatched).append(entry)
    missing = [(code, title) for code, title in exigences if not matched[code]]
    return Analysis({c: e for c, e in matched.items() if e}, unmatched, missing,
                    upload.report.get("nested_archives", []))
