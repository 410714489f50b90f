"""A section judged on one form (issue 18, item 5): every verdict the vérificateur typed,
each through `preuves.juger_exigence` (its audit event), in the request's one transaction.
A refused verdict (non conforme without a comment…) is kept apart with its error and the
others are saved; « tout conforme » fills only the exigences nobody has judged yet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from backoffice.db import db
from backoffice.models import Candidature, CandidatureExigence, Preuve, SectionReview, User
from backoffice.workflow.base import InvalidInput, ensure_allowed, ensure_open, ensure_status
from backoffice.workflow.preuves import (
    ACCEPTED,
    can_juger,
    effective_verdict,
    juger_exigence,
    section_of,
)

# refusals about one exigence's input: the others are still saved
PER_EXIGENCE = frozenset({"invalid_verdict", "comment_required", "justification_required",
                          "verdict_required"})


@dataclass
class SectionVerdicts:
    saved: list[str] = field(default_factory=list)  # exigence codes, in the section's order
    errors: dict[str, InvalidInput] = field(default_factory=dict)


def is_settled(exigence: CandidatureExigence, round_: int, changed: bool) -> bool:
    """Conforme (or non applicable) in an earlier round, not judged in this one, no file
    added or archived since: the re-review passes over it."""
    if round_ <= 1 or changed or any(v.round == round_ for v in exigence.verdicts):
        return False
    earlier = effective_verdict(exigence, round_ - 1)
    return earlier is not None and earlier.verdict in ACCEPTED


def changed_in_round(section: SectionReview) -> set[int]:
    """The ids of the section's exigences whose files changed in its current round."""
    return set(db.scalars(select(Preuve.exigence_id).where(
        Preuve.exigence_id.in_([e.id for e in section.exigences]),
        or_(Preuve.round_added == section.round,
            Preuve.archived_round == section.round))))


def _unchanged(exigence: CandidatureExigence, round_: int, verdict: str, comment: str) -> bool:
    row = next((v for v in exigence.verdicts if v.round == round_), None)
    return row is not None and row.verdict == verdict and (row.comment or "") == comment


def juger_section(candidature: Candidature, section_code: str, *, actor: User,
                  typed: Mapping[str, tuple[str, str]],
                  tout_conforme: bool = False) -> SectionVerdicts:
    """section (en_revue): the verdicts `typed` ({exigence code: (verdict, comment)}, an
    empty verdict for none chosen) and, with `tout_conforme`, conforme for every exigence
    still without a verdict in this round (settled ones excepted)."""
    section = section_of(candidature, section_code)
    ensure_open(candidature)
    ensure_allowed(can_juger(actor, candidature, section, check_state=False),
                   "Seul le vérificateur chargé de cette section peut la juger.")
    ensure_status(section, {"en_revue"}, f"La section {section.code}")
    result = SectionVerdicts()
    for exigence in section.exigences:
        verdict, comment = typed.get(exigence.code, ("", ""))
        verdict, comment = (verdict or "").strip(), (comment or "").strip()
        if not verdict:
            if comment and not _unchanged(exigence, section.round, verdict, comment):
                result.errors[exigence.code] = InvalidInput(
                    "verdict_required", "Choisissez un verdict pour enregistrer ce commentaire.")
            continue
        if _unchanged(exigence, section.round, verdict, comment):
            continue  # an autosave sends the whole form: only what changed is recorded
        try:
            juger_exigence(candidature, section.code, exigence.code, actor=actor,
                           verdict=verdict, comment=comment)
        except InvalidInput as error:
            if error.code not in PER_EXIGENCE:
                raise
            result.errors[exigence.code] = error
        else:
            result.saved.append(exigence.code)
    if tout_conforme:
        changed = changed_in_round(section)
        for exigence in section.exigences:
            typed_verdict = (typed.get(exigence.code, ("", ""))[0] or "").strip()
            if (typed_verdict or exigence.code in result.errors
                    or any(v.round == section.round for v in exigence.verdicts)
                    or is_settled(exigence, section.round, exigence.id in changed)):
                continue
            juger_exigence(candidature, section.code, exigence.code, actor=actor,
                           verdict="conforme")
            result.saved.append(exigence.code)
    return result
