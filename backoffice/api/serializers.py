"""JSON shapes of the API (English field names, values are design.md's codes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import (
    Candidature,
    Certificat,
    Fichier,
    Message,
    Preuve,
    Product,
    ProductEvaluation,
    SectionReview,
)
from backoffice.workflow.definitions import DEMARCHES
from backoffice.workflow.preuves import effective_verdict


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def product_json(product: Product) -> dict[str, Any]:
    return {
        "id": product.id, "label": product.label, "number": product.number,
        "name": product.name, "version": product.version, "type": product.type,
        "nil": product.nil, "responsable": product.responsable,
        "description": product.description, "certifications": product.certifications,
        "qualification": product.qualification, "created_at": iso(product.created_at),
    }


def evaluation_json(evaluation: ProductEvaluation) -> dict[str, Any]:
    return {"questionnaire": evaluation.questionnaire, "answered": evaluation.answered,
            "total": evaluation.total, "score": evaluation.score, "level": evaluation.level,
            "criteria": evaluation.criteria, "updated_at": iso(evaluation.updated_at)}


def file_json(fichier: Fichier) -> dict[str, Any]:
    return {"id": fichier.id, "name": fichier.original_name, "size": fichier.size,
            "sha256": fichier.sha256, "content_type": fichier.content_type,
            "uploaded_at": iso(fichier.uploaded_at), "scan_status": fichier.scan_status,
            # the signature found, never the scanner's own error messages
            "scan_signature": fichier.scan_detail if fichier.scan_status == "infecte" else None}


def candidature_summary(c: Candidature) -> dict[str, Any]:
    return {"reference": c.reference, "demarche": c.demarche_code, "status": c.status,
            "step": c.current_step, "step_status": c.current.status,
            "product": {"id": c.product_id, "label": c.product.label},
            "created_at": iso(c.created_at), "last_activity_at": iso(c.last_activity_at)}


def _sections(c: Candidature) -> list[SectionReview]:
    return list(db.scalars(select(SectionReview).where(SectionReview.candidature_id == c.id)
                           .order_by(SectionReview.position)))


def _last_message(c: Candidature, event: str, after: datetime | None = None) -> Message | None:
    stmt = select(Message).where(Message.candidature_id == c.id, Message.event == event)
    return db.scalar(stmt.order_by(Message.id.desc()).limit(1))


def change_requests(c: Candidature, sections: list[SectionReview]) -> list[dict[str, Any]]:
    """What ANS waits for from the vendor now."""
    requests: list[dict[str, Any]] = []
    for step in c.steps:
        if step.status == "complements_demandes":
            message = _last_message(c, "form.complements_demandes")
            requests.append({"kind": "complements", "step": step.step,
                             "message": message.body if message else "",
                             "requested_at": iso(message.created_at if message else None)})
    for section in sections:
        if section.status == "modifications_demandees":
            message = _last_message(c, "section.modifications_demandees")
            exigences = []
            for exigence in section.exigences:
                verdict = effective_verdict(exigence, section.round)
                if verdict is not None and verdict.verdict == "non_conforme":
                    exigences.append({"code": exigence.code, "comment": verdict.comment})
            requests.append({"kind": "modifications", "section": section.code,
                             "round": section.round, "exigences": exigences,
                             "message": message.body if message else ""})
    return requests


def section_json(section: SectionReview, *, detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"code": section.code, "title": section.title,
                            "status": section.status, "round": section.round}
    if detail:
        preuves = db.scalars(select(Preuve).where(
            Preuve.exigence_id.in_([e.id for e in section.exigences]))).all()
        by_exigence: dict[int, list[Preuve]] = {}
        for preuve in preuves:
            by_exigence.setdefault(preuve.exigence_id, []).append(preuve)
        body["exigences"] = [{
            "code": e.code, "title": e.title,
            "declaration_non_applicable": e.declaration_non_applicable,
            "preuves": [preuve_json(p) for p in by_exigence.get(e.id, [])
                        if p.fichier.deleted_at is None],
        } for e in section.exigences]
    return body


def preuve_json(preuve: Preuve) -> dict[str, Any]:
    return {"id": preuve.id, "file": file_json(preuve.fichier),
            "round_added": preuve.round_added, "archived": preuve.archived_at is not None,
            "archived_at": iso(preuve.archived_at)}


def candidature_json(c: Candidature) -> dict[str, Any]:
    sections = _sections(c)
    current = c.current
    window = c.campaign_window
    return {
        **candidature_summary(c),
        "demarche_label": DEMARCHES[c.demarche_code].label,
        "submitted_at": iso(c.submitted_at), "closed_at": iso(c.closed_at),
        "profils": c.profils,
        "steps": [{"step": s.step, "status": s.status, "due_at": iso(s.due_at),
                   "submitted_at": iso(s.submitted_at), "decided_at": iso(s.decided_at),
                   "informative": s.informative} for s in c.steps],
        "sections": [section_json(s) for s in sections],
        "change_requests": change_requests(c, sections),
        "deadlines": {
            "campaign_closes_at": iso(window.closes_at) if window else None,
            "current_step_due_at": iso(current.due_at),
            "current_step_paused": current.paused_at is not None,
        },
        "result": result_json(c),
    }


def result_json(c: Candidature) -> dict[str, Any] | None:
    """The issued certificate (DMN) or attestation de référencement (SONS SAS): its numbers,
    dates, current status (valide, suspendu, retire) and where to check and fetch it."""
    from backoffice.certificates import verify_url

    cert = db.scalar(select(Certificat).where(Certificat.candidature_id == c.id,
                                              Certificat.fichier_id.is_not(None)))
    if cert is None:
        return None
    return {"kind": cert.kind, "number": cert.number,
            "numero_referencement": cert.numero_referencement,
            "issued_at": iso(cert.issued_at), "next_check_at": iso(cert.next_check_at),
            "status": cert.status, "status_changed_at": iso(cert.status_changed_at),
            "verify_url": verify_url(cert.number),
            "file": file_json(cert.fichier) if cert.fichier is not None else None}


def message_json(message: Message) -> dict[str, Any]:
    return {"id": message.id, "author": message.author_kind, "kind": message.kind,
            "event": message.event, "subject": message.subject, "body": message.body,
            "created_at": iso(message.created_at),
            "attachments": [file_json(f) for f in message.attachments]}
