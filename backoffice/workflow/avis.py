"""Ligne générique in phase transitoire: the vendor uploads one zip of preuves named after
the exigence codes (successive uploads supersede each other); the vérificateur gives an
avis informatif per exigence and overall."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from backoffice import audit
from backoffice.db import db
from backoffice.models import (
    Avis,
    Candidature,
    Fichier,
    Profil,
    Referentiel,
    ReferentielExigence,
    ReferentielSection,
    StepForm,
    User,
    ZipPourAvis,
)
from backoffice.workflow import delays
from backoffice.workflow.base import (
    Actor,
    InvalidInput,
    TransitionError,
    ensure_allowed,
    ensure_open,
    ensure_status,
    in_state,
    is_industriel_of,
    is_verificateur_for,
    now,
    require_text,
    step_of,
    touch,
    transition,
)
from backoffice.workflow.definitions import CandidatureStatus, StepKind
from backoffice.workflow.messages import post_system_message
from backoffice.workflow.steps import close


def current_zip(candidature: Candidature) -> ZipPourAvis | None:
    return db.scalar(select(ZipPourAvis).where(
        ZipPourAvis.candidature_id == candidature.id, ZipPourAvis.superseded_at.is_(None)))


def has_pour_avis(candidature: Candidature) -> bool:
    """The candidature's own steps say so (fixed when it was opened): an admin ending the
    transitional phase changes the démarche for new candidatures, not this one's."""
    return any(s.step == "preuves_pour_avis" for s in candidature.steps)


def recevabilite_soumise(candidature: Candidature) -> bool:
    step = next((s for s in candidature.steps if s.step == "recevabilite"), None)
    return step is not None and step.submitted_at is not None and step.status != "brouillon"


def can_deposer_zip(actor: Actor, candidature: Candidature, *, check_state: bool = True) -> bool:
    """The vendor of a ligne générique (transitional) candidature whose recevabilité is
    submitted (the vendor guide: « une fois votre recevabilité soumise, déposez vos
    preuves… dans un seul fichier zip »), until the avis is given."""
    if not is_industriel_of(actor, candidature):
        return False
    if not check_state:
        return True
    if not (has_pour_avis(candidature) and candidature.status == CandidatureStatus.en_cours):
        return False
    step = candidature.step("preuves_pour_avis")
    return step.status in {"en_attente_depot", "deposees"} or (
        step.status == "a_venir" and recevabilite_soumise(candidature))


def ensure_zip_accepted(actor: Actor, candidature: Candidature) -> None:
    """Why a zip would be refused now, before its bytes are stored."""
    ensure_allowed(is_industriel_of(actor, candidature))
    if not has_pour_avis(candidature):
        raise TransitionError("not_pour_avis",
                              "Cette candidature ne comporte pas de dépôt de preuves pour avis.")
    ensure_open(candidature)
    step = candidature.step("preuves_pour_avis")
    if step.status == "a_venir" and not recevabilite_soumise(candidature):
        raise TransitionError("recevabilite_not_submitted",
                              "Soumettez d'abord le formulaire de recevabilité : l'archive "
                              "de preuves pour avis se dépose une fois la recevabilité "
                              "soumise.")
    ensure_status(step, {"a_venir", "en_attente_depot", "deposees"},
                  "Le dépôt des preuves pour avis")


def can_rendre_avis(actor: Actor, candidature: Candidature, *, check_state: bool = True) -> bool:
    return is_verificateur_for(actor, candidature) and (
        not check_state
        or in_state(candidature, step_of(candidature, "preuves_pour_avis"), {"deposees"}))


@transition("pour_avis.deposer", StepKind.preuves_pour_avis,
            {"a_venir", "en_attente_depot", "deposees"}, {"a_venir", "deposees"},
            can=can_deposer_zip, event="pour_avis.deposees",
            verb="a déposé l'archive des preuves pour avis")
def deposer_zip(candidature: Candidature, *, actor: Actor, fichier: Fichier,
                report: dict) -> ZipPourAvis:
    """preuves_pour_avis: en_attente_depot | deposees -> deposees (supersedes the last);
    a_venir (recevabilité submitted, not yet decided) -> a_venir, the zip kept: the step
    opens as deposees once the recevabilité is validated."""
    ensure_zip_accepted(actor, candidature)
    step = candidature.step("preuves_pour_avis")
    at = now()
    previous = current_zip(candidature)
    if previous is not None:
        previous.superseded_at = at
    upload = ZipPourAvis(candidature_id=candidature.id, fichier_id=fichier.id, report=report)
    db.add(upload)
    before = step.status
    if step.status != "a_venir":
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


def open_step(candidature: Candidature, step) -> None:
    """The step opens (recevabilité validated): a zip already there makes it deposees."""
    if current_zip(candidature) is not None:
        at = now()
        step.status, step.submitted_at = "deposees", at
        delays.start_clock(step, candidature.demarche_code, at)


@transition("pour_avis.rendre_avis", StepKind.preuves_pour_avis, {"deposees"}, {"avis_rendu"},
            can=can_rendre_avis, event="pour_avis.avis_rendu", verb="a rendu l'avis")
def rendre_avis(candidature: Candidature, *, actor: User, par_exigence: dict[str, str],
                message: str) -> None:
    """preuves_pour_avis: deposees -> avis_rendu; the candidature ends avis_rendu."""
    ensure_allowed(can_rendre_avis(actor, candidature, check_state=False))
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
    titles: dict[str, str] = field(default_factory=dict)  # exigence code -> title
    system: list[dict] = field(default_factory=list)  # what an OS adds to an archive


# Entries an operating system adds when it builds an archive: shown apart, never counted
# as files the vendor forgot to name after an exigence.
SYSTEM_DIRECTORIES = {"__MACOSX"}
SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def is_system_entry(entry_name: str) -> bool:
    parts = [p for p in entry_name.replace("\\", "/").split("/") if p]
    return bool(parts) and (bool(SYSTEM_DIRECTORIES.intersection(parts))
                            or parts[-1] in SYSTEM_FILES or parts[-1].startswith("._"))


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


def selected_exigences(candidature: Candidature) -> list[tuple[str, str]]:
    """(code, title) of the exigences the candidature's profils select, in the
    référentiel's order: two queries whatever their number (the dossier page reads it).
    Before the recevabilité fixes the référentiel (a zip may come first), the one in force."""
    from backoffice.workflow.referentiels import referentiel_code

    if candidature.referentiel_id is not None:
        referentiel_id: Any = candidature.referentiel_id
        profils = list(candidature.profils or [])
    else:  # as fix_referentiel will choose: the forms' profils, or every profil
        referentiel_id = select(Referentiel.id).where(
            Referentiel.code == referentiel_code(candidature),
            Referentiel.current.is_(True)).scalar_subquery()
        profils = sorted({code for data in db.scalars(select(StepForm.data).where(
            StepForm.candidature_id == candidature.id)) for code in data.get("profils") or []})
    query = select(Profil.sections).where(Profil.referentiel_id == referentiel_id)
    if profils or candidature.referentiel_id is not None:
        query = query.where(Profil.code.in_(profils))
    wanted: set[str] = set()
    for sections in db.scalars(query):
        wanted.update(sections)
    return _exigences(referentiel_id, wanted)


def _exigences(referentiel_id: Any, sections: set[str]) -> list[tuple[str, str]]:
    """(code, title) of the exigences of these sections, in the référentiel's order."""
    if not sections:
        return []
    return [(code, title) for code, title in db.execute(
        select(ReferentielExigence.code, ReferentielExigence.title)
        .join(ReferentielSection, ReferentielSection.id == ReferentielExigence.section_id)
        .where(ReferentielSection.referentiel_id == referentiel_id,
               ReferentielSection.code.in_(sections))
        .order_by(ReferentielSection.position, ReferentielExigence.position))]


def analyse(candidature: Candidature, upload: ZipPourAvis,
            exigences: list[tuple[str, str]] | None = None) -> Analysis:
    if exigences is None:
        exigences = selected_exigences(candidature)
    codes = [code for code, _ in exigences]
    matched: dict[str, list[dict]] = {code: [] for code in codes}
    unmatched: list[dict] = []
    system: list[dict] = []
    for entry in upload.report.get("entries", []):
        if is_system_entry(entry["name"]):
            system.append(entry)
            continue
        code = match_code(entry["name"], codes)
        (matched[code] if code else unmatched).append(entry)
    missing = [(code, title) for code, title in exigences if not matched[code]]
    return Analysis({c: e for c, e in matched.items() if e}, unmatched, missing,
                    upload.report.get("nested_archives", []), titles=dict(exigences),
                    system=system)


# --- the step's panel on the dossier ----------------------------------------------------


@dataclass
class StepSummary:
    """What the dossier's panel says of the step: the archive received (or not) and, once
    the step is open, what its analysis found, in counts."""

    upload: ZipPourAvis | None
    fichier: Fichier | None
    analysed: bool = False
    entries: int = 0  # in the archive
    exigences: int = 0  # selected by the candidature's profils
    covered: int = 0  # of which at least one entry is named after
    unmatched: int = 0
    system: int = 0

    @property
    def missing(self) -> int:
        return self.exigences - self.covered


def step_summary(candidature: Candidature) -> StepSummary | None:
    """None for a candidature without the step. One query while the step has not opened
    (the recevabilité page already spends the budget); two once it has: the zip, its file
    and the profils' sections in one, the exigences in the other."""
    if not has_pour_avis(candidature):
        return None
    current = (ZipPourAvis.candidature_id == candidature.id) & ZipPourAvis.superseded_at.is_(None)
    if candidature.step("preuves_pour_avis").status == "a_venir" or \
            candidature.referentiel_id is None:
        row = db.execute(select(ZipPourAvis, Fichier)
                         .join(Fichier, Fichier.id == ZipPourAvis.fichier_id)
                         .where(current)).first()
        if row is None:
            return StepSummary(None, None)
        return StepSummary(row[0], row[1], entries=len(row[0].report.get("entries", [])))
    rows = db.execute(
        select(ZipPourAvis, Fichier, Profil.sections)
        .join(Fichier, Fichier.id == ZipPourAvis.fichier_id)
        .outerjoin(Profil, (Profil.referentiel_id == candidature.referentiel_id)
                   & Profil.code.in_(list(candidature.profils or [])))
        .where(current)).all()
    if not rows:
        return StepSummary(None, None)
    upload, fichier = rows[0][0], rows[0][1]
    wanted = {code for row in rows for code in (row[2] or [])}
    exigences = _exigences(candidature.referentiel_id, wanted)
    found = analyse(candidature, upload, exigences)
    return StepSummary(upload, fichier, analysed=True,
                       entries=len(upload.report.get("entries", [])),
                       exigences=len(exigences), covered=len(found.matched),
                       unmatched=len(found.unmatched), system=len(found.system))
