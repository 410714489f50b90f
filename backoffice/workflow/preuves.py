"""Preuves, section by section: the vendor files preuves and submits a section; a
vérificateur reviews it, judges each exigence, validates the section or asks for
modifications (a new round). The step is done when every section is validated."""

from __future__ import annotations

from sqlalchemy import select

from backoffice import audit
from backoffice.db import db
from backoffice.models import (
    Candidature,
    CandidatureExigence,
    ExigenceVerdict,
    Fichier,
    Preuve,
    SectionReview,
    User,
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
    touch,
    transition,
)
from backoffice.workflow.definitions import step_label
from backoffice.workflow.messages import post_system_message
from backoffice.workflow.steps import advance

VENDOR_EDITABLE = {"a_completer", "modifications_demandees"}
ACCEPTED = {"conforme", "non_applicable"}


def section_of(candidature: Candidature, code: str) -> SectionReview:
    section = db.scalar(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id, SectionReview.code == code))
    if section is None:
        raise InvalidInput("unknown_section", f"Section inconnue : « {code} ».", 404)
    return section


def exigence_of(section: SectionReview, code: str) -> CandidatureExigence:
    for exigence in section.exigences:
        if exigence.code == code:
            return exigence
    raise InvalidInput("unknown_exigence", f"Exigence inconnue : « {code} ».", 404)


def active_preuves(exigence: CandidatureExigence) -> list[Preuve]:
    return list(db.scalars(select(Preuve).where(
        Preuve.exigence_id == exigence.id, Preuve.archived_at.is_(None))))


def effective_verdict(exigence: CandidatureExigence, round_: int) -> ExigenceVerdict | None:
    """The latest verdict up to this round: an exigence found conforme earlier stays so
    unless it is judged again."""
    earlier = [v for v in exigence.verdicts if v.round <= round_]
    return max(earlier, key=lambda v: v.round) if earlier else None


def _sync_clock(candidature: Candidature) -> None:
    """The preuves step's clock runs while a section waits on ANS."""
    step = candidature.step("preuves")
    if step.status != "en_cours":
        return
    sections = db.scalars(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id)).all()
    at = now()
    if any(s.status in ("soumise", "en_revue") for s in sections):
        step.submitted_at = step.submitted_at or at
        delays.resume_clock(step, candidature.demarche_code, at)
    else:
        delays.pause_clock(step, candidature.demarche_code, at)


def next_round(section: SectionReview) -> int:
    """The round the vendor's changes belong to: after a request for modifications, the
    files they add or archive are part of the round their resubmission opens."""
    return section.round + 1 if section.status == "modifications_demandees" else section.round


def _section(candidature: Candidature, section: SectionReview | str) -> SectionReview | None:
    if isinstance(section, SectionReview):
        return section
    return db.scalar(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id, SectionReview.code == section))


def can_soumettre_section(actor: Actor, candidature: Candidature, section: SectionReview | str,
                          *, check_state: bool = True) -> bool:
    """The vendor submits a section of its own candidature while it can edit it."""
    return is_industriel_of(actor, candidature) and (
        not check_state
        or in_state(candidature, _section(candidature, section), VENDOR_EDITABLE))


def _can_review(actor: Actor, candidature: Candidature, section: SectionReview | str,
                sources: set[str], check_state: bool) -> bool:
    if not is_verificateur_for(actor, candidature):
        return False
    found = _section(candidature, section)
    if found is None or found.assignee_id not in (None, actor.id):
        return False
    return not check_state or in_state(candidature, found, sources)


def can_commencer_revue(actor: Actor, candidature: Candidature, section: SectionReview | str,
                        *, check_state: bool = True) -> bool:
    """A vérificateur of the parcours starts reviewing a submitted section nobody else has."""
    return _can_review(actor, candidature, section, {"soumise"}, check_state)


def can_juger(actor: Actor, candidature: Candidature, section: SectionReview | str,
              *_: object, check_state: bool = True) -> bool:
    """The section's reviewer judges its exigences, validates it or asks for modifications
    while it is en revue."""
    return _can_review(actor, candidature, section, {"en_revue"}, check_state)


can_juger_exigence = can_valider_section = can_demander_modifications = can_juger


def _ensure_vendor_can_edit(actor: Actor, candidature: Candidature,
                            section: SectionReview) -> None:
    ensure_allowed(can_soumettre_section(actor, candidature, section, check_state=False))
    ensure_open(candidature)
    ensure_status(section, VENDOR_EDITABLE, f"La section {section.code}")


def deposer_preuve(candidature: Candidature, section_code: str, exigence_code: str, *,
                   actor: Actor, fichier: Fichier) -> Preuve:
    """Add a preuve to an exigence of a section the vendor can edit."""
    section = section_of(candidature, section_code)
    exigence = exigence_of(section, exigence_code)
    _ensure_vendor_can_edit(actor, candidature, section)
    preuve = Preuve(candidature_id=candidature.id, exigence_id=exigence.id,
                    fichier_id=fichier.id, round_added=next_round(section))
    db.add(preuve)
    touch(candidature)
    db.flush()
    audit.record(actor, "preuves.deposer", preuve, candidature=candidature,
                 after={"section": section.code, "exigence": exigence.code,
                        "fichier": fichier.original_name, "round": preuve.round_added})
    return preuve


def archiver_preuve(candidature: Candidature, preuve: Preuve, *, actor: Actor) -> None:
    """The vendor's "croix": the preuve stays visible as archived."""
    exigence = db.get(CandidatureExigence, preuve.exigence_id)
    if exigence is None:  # a preuve goes with its exigence (cascade)
        raise LookupError(f"preuve {preuve.id}: exigence absente")
    section = exigence.section
    _ensure_vendor_can_edit(actor, candidature, section)
    if preuve.archived_at is not None:
        raise TransitionError("already_archived", "Cette preuve est déjà archivée.")
    preuve.archived_at, preuve.archived_round = now(), next_round(section)
    touch(candidature)
    audit.record(actor, "preuves.archiver", preuve, candidature=candidature,
                 after={"section": section.code, "exigence": exigence.code,
                        "round": preuve.archived_round})


def declarer_non_applicable(candidature: Candidature, section_code: str, exigence_code: str,
                            *, actor: Actor, declaration: str) -> None:
    """The vendor's justified déclaration sur l'honneur that an exigence does not apply."""
    section = section_of(candidature, section_code)
    exigence = exigence_of(section, exigence_code)
    _ensure_vendor_can_edit(actor, candidature, section)
    exigence.declaration_non_applicable = require_text(
        declaration, "La déclaration sur l'honneur doit être justifiée.")
    touch(candidature)
    audit.record(actor, "preuves.declarer_non_applicable", exigence, candidature=candidature,
                 after={"exigence": exigence.code})


@transition("section.soumettre", "section", VENDOR_EDITABLE, {"soumise"},
            can=can_soumettre_section, event="section.soumise", verb="a soumis la section")
def soumettre_section(candidature: Candidature, section_code: str, *, actor: Actor) -> None:
    """section: a_completer | modifications_demandees -> soumise (a resubmission opens a
    new round, reviewed by the same vérificateur)."""
    section = section_of(candidature, section_code)
    _ensure_vendor_can_edit(actor, candidature, section)
    empty = [e.code for e in section.exigences
             if not active_preuves(e) and not e.declaration_non_applicable]
    if empty:
        raise InvalidInput("incomplete_section",
                           "Chaque exigence doit avoir au moins une preuve ou une déclaration "
                           "de non-applicabilité. Manquantes : " + ", ".join(empty) + ".")
    before = section.status
    if before == "modifications_demandees":
        section.round += 1
    section.status, section.submitted_at = "soumise", now()
    touch(candidature)
    _sync_clock(candidature)
    audit.record(actor, "section.soumettre", section, candidature=candidature,
                 before={"status": before}, after={"status": "soumise", "round": section.round})
    post_system_message(candidature, "section.soumise", section=section.code,
                        round=section.round)


def _ensure_reviewer(actor: User, candidature: Candidature, section: SectionReview) -> None:
    ensure_open(candidature)
    ensure_allowed(is_verificateur_for(actor, candidature))
    # the predicates (can_juger…) refuse another reviewer's section; here it is a 409
    if section.assignee_id not in (None, actor.id):
        raise TransitionError("assigned_to_someone_else",
                              "Cette section est attribuée à un autre vérificateur.")


@transition("section.commencer_revue", "section", {"soumise"}, {"en_revue"},
            can=can_commencer_revue, verb="a commencé la revue de la section")
def commencer_revue(candidature: Candidature, section_code: str, *, actor: User) -> None:
    """section: soumise -> en_revue."""
    section = section_of(candidature, section_code)
    _ensure_reviewer(actor, candidature, section)
    ensure_status(section, {"soumise"}, f"La section {section.code}")
    before = section.status
    section.status, section.assignee_id = "en_revue", actor.id
    touch(candidature)
    audit.record(actor, "section.commencer_revue", section, candidature=candidature,
                 before={"status": before}, after={"status": section.status})


@transition("section.juger_exigence", "section", {"en_revue"}, {"en_revue"},
            can=can_juger_exigence, verb="a rendu son verdict sur")
def juger_exigence(candidature: Candidature, section_code: str, exigence_code: str, *,
                   actor: User, verdict: str, comment: str | None = None) -> ExigenceVerdict:
    """A verdict on one exigence for the section's current round (a draft until the
    section is decided)."""
    section = section_of(candidature, section_code)
    _ensure_reviewer(actor, candidature, section)
    ensure_status(section, {"en_revue"}, f"La section {section.code}")
    exigence = exigence_of(section, exigence_code)
    comment = (comment or "").strip() or None
    if verdict not in ("conforme", "non_conforme", "non_applicable"):
        raise InvalidInput("invalid_verdict", "Verdict inconnu.")
    if verdict == "non_conforme" and not comment:
        raise InvalidInput("comment_required", "Un commentaire est obligatoire pour une "
                                               "exigence non conforme.")
    if verdict == "non_applicable" and not (exigence.declaration_non_applicable or comment):
        raise InvalidInput("justification_required",
                           "Non applicable : il faut la déclaration sur l'honneur justifiée de "
                           "l'industriel ou votre justification écrite.")
    row = next((v for v in exigence.verdicts if v.round == section.round), None)
    before = {"verdict": row.verdict, "comment": row.comment} if row else None
    if row is None:
        row = ExigenceVerdict(round=section.round, author_id=actor.id, verdict=verdict)
        exigence.verdicts.append(row)
    row.verdict, row.comment, row.author_id = verdict, comment, actor.id
    touch(candidature)
    db.flush()
    audit.record(actor, "section.juger_exigence", row, candidature=candidature, before=before,
                 after={"exigence": exigence.code, "round": section.round,
                        "verdict": verdict, "comment": comment})
    return row


@transition("section.valider", "section", {"en_revue"}, {"validee"}, can=can_valider_section,
            event="section.validee", verb="a validé la section")
def valider_section(candidature: Candidature, section_code: str, *, actor: User) -> None:
    """section: en_revue -> validee, when every exigence is conforme or non applicable;
    the last one validates the preuves step."""
    section = section_of(candidature, section_code)
    _ensure_reviewer(actor, candidature, section)
    ensure_status(section, {"en_revue"}, f"La section {section.code}")
    pending = [e.code for e in section.exigences
               if (v := effective_verdict(e, section.round)) is None or v.verdict not in ACCEPTED]
    if pending:
        raise InvalidInput("exigences_not_accepted",
                           "La section ne peut être validée : exigences non conformes ou non "
                           "jugées : " + ", ".join(pending) + ".")
    before = section.status
    section.status, section.decided_at = "validee", now()
    touch(candidature)
    audit.record(actor, "section.valider", section, candidature=candidature,
                 before={"status": before}, after={"status": "validee", "round": section.round})
    post_system_message(candidature, "section.validee", section=section.code)
    _complete_step_if_done(candidature, actor)


def _complete_step_if_done(candidature: Candidature, actor: User) -> None:
    db.flush()
    sections = db.scalars(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id)).all()
    step = candidature.step("preuves")
    if step.status != "en_cours":  # sections reopened by an ajournement
        return
    if not all(s.status == "validee" for s in sections):
        _sync_clock(candidature)
        return
    step.status, step.decided_at, step.decided_by = "validee", now(), actor
    delays.stop_clock(step)
    following = advance(candidature, step)
    audit.record(actor, "preuves.valider", step, candidature=candidature,
                 before={"status": "en_cours"},
                 after={"status": "validee", "next": following.step if following else None})
    extra = f" Le dossier passe à l'étape « {step_label(following.step)} »." if following else ""
    post_system_message(candidature, "preuves.validees", extra=extra)


def compose_modifications_message(section: SectionReview) -> str:
    lines = [f"Modifications demandées sur la section {section.code} "
             f"(tour {section.round}) :"]
    for exigence in section.exigences:
        verdict = effective_verdict(exigence, section.round)
        if verdict is not None and verdict.verdict == "non_conforme":
            lines.append(f"- {exigence.code} — {exigence.title} : {verdict.comment}")
    return "\n".join(lines)


@transition("section.demander_modifications", "section", {"en_revue"},
            {"modifications_demandees"}, can=can_demander_modifications,
            event="section.modifications_demandees",
            verb="a demandé des modifications sur la section")
def demander_modifications(candidature: Candidature, section_code: str, *, actor: User,
                           message: str | None = None) -> None:
    """section: en_revue -> modifications_demandees (at least one exigence non conforme)."""
    section = section_of(candidature, section_code)
    _ensure_reviewer(actor, candidature, section)
    ensure_status(section, {"en_revue"}, f"La section {section.code}")
    non_conformes = [e for e in section.exigences
                     if (v := effective_verdict(e, section.round)) and v.verdict == "non_conforme"]
    if not non_conformes:
        raise InvalidInput("no_non_conforme", "Indiquez au moins une exigence non conforme, "
                                              "avec son commentaire.")
    body = (message or "").strip() or compose_modifications_message(section)
    before = section.status
    section.status = "modifications_demandees"
    touch(candidature)
    _sync_clock(candidature)
    audit.record(actor, "section.demander_modifications", section, candidature=candidature,
                 before={"status": before},
                 after={"status": section.status, "round": section.round,
                        "exigences": [e.code for e in non_conformes]})
    post_system_message(candidature, "section.modifications_demandees", section=section.code,
                        body=body)


def reopen(candidature: Candidature, section: SectionReview, *, actor: User,
           message: str) -> None:
    """An ajournement of the collège sends a validated section back for modifications."""
    before = section.status
    section.status, section.decided_at = "modifications_demandees", None
    audit.record(actor, "section.rouvrir", section, candidature=candidature,
                 before={"status": before}, after={"status": section.status})
    post_system_message(candidature, "section.modifications_demandees", section=section.code,
                        body=message)


def ensure_all_validated(candidature: Candidature) -> None:
    sections = db.scalars(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id)).all()
    waiting = [s.code for s in sections if s.status != "validee"]
    if waiting:
        raise TransitionError("sections_not_validated",
                              "Sections en attente de validation : " + ", ".join(waiting) + ".")

