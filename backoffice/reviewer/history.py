"""The audit events of a candidature, told in French: who (a person's name, not an
e-mail) and what, as one sentence naming its object (file, section or exigence with its
title, request reference, motive). A transition's verb comes from its registry entry
(workflow.base.TRANSITIONS); the operations that change no status are named here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import (
    AuditEvent,
    Candidature,
    CandidatureExigence,
    PieceType,
    SectionReview,
    User,
)
from backoffice.workflow import (  # noqa: F401 (importing them registers the transitions)
    assignment,
    avis,
    candidatures,
    certificats,
    college,
    convention,
    emission,
    forms,
    preuves,
    support,
)
from backoffice.workflow.base import TRANSITIONS, TransitionInfo
from backoffice.workflow.definitions import DEMARCHES, STEPS, status_label, step_label

# Audit actions that are not status changes ("{step}": any step's code).
OPERATIONS = {
    "candidature.ouvrir": "a ouvert la candidature",
    "{step}.enregistrer_formulaire": "a enregistré le formulaire de l'étape « {step} »",
    "{step}.ajouter_piece": "a déposé pour l'étape « {step} » la pièce justificative",
    "preuves.deposer": "a déposé la preuve",
    "preuves.archiver": "a archivé une preuve",
    "preuves.declarer_non_applicable": "a déclaré non applicable",
    "preuves.valider": "a validé le dépôt des preuves (toutes les sections sont validées)",
    "section.rouvrir": "a rouvert la section",
    "attribution.prendre": "a pris le dossier",
    "attribution.confier": "a confié le dossier",
    "messagerie.message_industriel": "a écrit aux vérificateurs",
    "messagerie.message_ans": "a écrit à l'industriel",
    "messagerie.note_interne": "a ajouté une note interne",
    "antivirus.fichier_infecte": "a mis en quarantaine le fichier infecté",
    "support.supprimer_fichier": "a supprimé le fichier",
    "fichier.ouvrir": "a ouvert le fichier",
    "seance.inscrire": "a inscrit le dossier à l'ordre du jour d'une séance",
    "seance.conflit": "a déclaré un conflit d'intérêts sur le dossier",
    "seance.voter": "a voté",
    "seance.decider": "a enregistré la décision de la séance",
    "convention.demande_creee": "a créé la demande de signature Yousign",
    "convention.documents_recus": "a joint la convention signée et le dossier de preuve Yousign",
}
USAGES = {"piece": "pièce justificative", "preuve": "preuve",
          "zip": "archive des preuves pour avis", "autre": "pièce jointe"}
VOTES = {"favorable": "favorable", "defavorable": "défavorable", "abstention": "abstention"}
VERDICTS = {"conforme": "conforme", "non_conforme": "non conforme",
            "non_applicable": "non applicable"}


@dataclass
class Lexicon:
    """What the codes of a candidature's events stand for (read once for the page)."""

    sections: dict[str, str] = field(default_factory=dict)  # code -> title
    section_ids: dict[str, str] = field(default_factory=dict)  # str(id) -> code
    exigences: dict[str, str] = field(default_factory=dict)
    pieces: dict[str, str] = field(default_factory=dict)
    people: dict[int, str] = field(default_factory=dict)


def lexicon_for(candidature: Candidature, events: Sequence[AuditEvent], *,
                piece_labels: dict[str, str] | None = None) -> Lexicon:
    """Section and exigence titles, pièce labels, people's names, each read only when an
    event names one (a dossier page keeps its query budget): at most three queries.
    `piece_labels`: the parcours' pièce labels when the page has read them already."""
    payloads = [e.after or {} for e in events]
    sections: dict[str, str] = {}
    section_ids: dict[str, str] = {}
    exigences: dict[str, str] = {}
    if any(e.target_type == "sectionreview" for e in events) or \
            any(p.get("section") or p.get("exigence") for p in payloads):
        for id_, code, title, exigence, exigence_title in db.execute(
                select(SectionReview.id, SectionReview.code, SectionReview.title,
                       CandidatureExigence.code, CandidatureExigence.title)
                .outerjoin(CandidatureExigence,
                           CandidatureExigence.section_id == SectionReview.id)
                .where(SectionReview.candidature_id == candidature.id)):
            sections[code], section_ids[str(id_)] = title, code
            if exigence is not None:
                exigences[exigence] = exigence_title
    pieces: dict[str, str] = {}
    if piece_labels is not None:
        pieces = piece_labels
    elif any(p.get("type") for p in payloads):
        parcours = DEMARCHES[candidature.demarche_code].parcours.value
        pieces = dict(db.execute(select(PieceType.code, PieceType.label).where(
            PieceType.parcours == parcours)).tuples().all())
    return Lexicon(sections, section_ids, exigences, pieces, people_named(events))


def people_named(events: Sequence[AuditEvent]) -> dict[int, str]:
    ids = {e.actor_id for e in events if e.actor_id}
    for e in events:
        for payload in (e.before or {}, e.after or {}):
            if isinstance(payload.get("assignee"), int):
                ids.add(payload["assignee"])
    if not ids:
        return {}
    return dict(db.execute(select(User.id, User.name).where(User.id.in_(ids))).tuples().all())


def who(event: AuditEvent, lexicon: Lexicon) -> str:
    """The person's name; the vendor's organisation or the system as recorded."""
    if event.actor_id and event.actor_id in lexicon.people:
        return lexicon.people[event.actor_id]
    label = event.actor_label or "système"
    if label.startswith("industriel : "):
        return "L'industriel (" + label.removeprefix("industriel : ") + ")"
    return label[:1].upper() + label[1:]


def transition_for(action: str) -> TransitionInfo | None:
    """The registered transition whose audit code is `action` (``{step}``: a step of the
    transition's kind)."""
    prefix = action.partition(".")[0]
    for info in TRANSITIONS.values():
        if "{step}" in info.audit and (prefix not in STEPS or STEPS[prefix].kind != info.kind):
            continue
        if info.audit.format(step=prefix) == action:
            return info
    return None


def verb_of(action: str) -> str:
    """The French verb of an audit action, its step named; "" when unknown."""
    prefix, _, rest = action.partition(".")
    info = transition_for(action)
    verb = info.verb if info is not None else OPERATIONS.get(action, "")
    if not verb and prefix in STEPS:
        verb = OPERATIONS.get("{step}." + rest, "")
    return verb.replace("{step}", step_label(prefix))


def _section(code: str, lexicon: Lexicon) -> str:
    title = lexicon.sections.get(code)
    return f"{code} — {title}" if title else code


def _exigence(code: str, lexicon: Lexicon) -> str:
    title = lexicon.exigences.get(code)
    return f"{code} — {title}" if title else code


def _quoted(text: Any, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return "« " + (text if len(text) <= limit else text[:limit - 1] + "…") + " »"


def _objects(event: AuditEvent, lexicon: Lexicon) -> list[str]:
    """What the event is about: file, pièce, exigence, section, colleague."""
    action, after, before = event.action, event.after or {}, event.before or {}
    prefix = action.partition(".")[0]
    parts = []
    if after.get("type") and prefix in STEPS:  # a pièce justificative
        parts.append(_quoted(lexicon.pieces.get(after["type"], after["type"])))
        if after.get("fichier"):
            parts.append(f"(fichier {_quoted(after['fichier'])})")
    else:
        name = after.get("fichier") or before.get("name")
        if isinstance(name, str) and name:
            parts.append(_quoted(name))
    if before.get("usage") in USAGES:
        parts.append(f"({USAGES[before['usage']]})")
    section = after.get("section") or (lexicon.section_ids.get(event.target_id)
                                       if event.target_type == "sectionreview" else None)
    if after.get("exigence"):
        link = {"preuves.deposer": "pour l'exigence", "preuves.archiver": "de l'exigence"}
        parts.append(link.get(action, "l'exigence") + " " + _exigence(after["exigence"], lexicon))
        if section:
            parts.append(f"(section {_section(section, lexicon)})")
    elif section and prefix == "section":
        parts.append(_section(section, lexicon))
    if after.get("round") and prefix in ("section", "preuves") and \
            action != "section.juger_exigence":
        parts.append(f"au tour {after['round']}")
    if action == "attribution.confier" and after.get("assignee") in lexicon.people:
        parts.append("à " + lexicon.people[after["assignee"]])
    return parts


def _details(event: AuditEvent) -> list[str]:
    """The decision's content: verdict, vote, number, request, motive, status change."""
    action, after, before = event.action, event.after or {}, event.before or {}
    details = []
    if after.get("verdict") in VERDICTS:
        details.append(VERDICTS[after["verdict"]] + (f" : {_quoted(after['comment'])}"
                                                     if after.get("comment") else ""))
    if after.get("vote") in VOTES:
        details.append("vote " + VOTES[after["vote"]])
    if after.get("decision") in VOTES:
        details.append("décision " + VOTES[after["decision"]])
    if after.get("numero"):
        details.append(f"n° {after['numero']}")
    if after.get("demande"):
        details.append(f"à la demande {_quoted(after['demande'], 100)}")
    if after.get("motif"):
        details.append(f"motif : {_quoted(after['motif'])}")
    if after.get("message") and action.endswith(".demander_complements"):
        details.append(f"message : {_quoted(after['message'])}")
    if after.get("signature"):
        details.append(f"signature {_quoted(after['signature'], 100)}")
    if action == "fichier.ouvrir" and after.get("mode") in ("aperçu", "téléchargement"):
        details.append(after["mode"])
    if after.get("supersedes"):
        details.append("remplace l'archive précédente")
    old, new = before.get("status"), after.get("status")
    if isinstance(old, str) and isinstance(new, str) and old != new:
        details.append(f"{status_label(old)} → {status_label(new)}")
    return details


def describe(event: AuditEvent, lexicon: Lexicon | None = None) -> str:
    """'a validé l'étape « Recevabilité » — En instruction → Validée'."""
    lexicon = lexicon or Lexicon()
    verb = verb_of(event.action)
    if not verb:  # an action this page does not know yet: said plainly, never a code
        return "a effectué une opération sur le dossier"
    details = _details(event)
    text = " ".join([verb, *_objects(event, lexicon)])
    return text + (" — " + ", ".join(details) if details else "")
