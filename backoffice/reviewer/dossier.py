"""The dossier page: header, step timeline, and its tabs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, render_template, request
from flask_login import current_user
from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload, selectinload

from backoffice.auth.access import roles_required
from backoffice.db import commit_marker, db, utcnow
from backoffice.models import (
    AgendaItem,
    AuditEvent,
    Certificat,
    Convention,
    Fichier,
    Message,
    MessageRead,
    Piece,
    PieceType,
    Preuve,
    ProductEvaluation,
    Seance,
    SectionReview,
    StepForm,
    User,
)
from backoffice.reviewer import bp
from backoffice.reviewer.access import load_dossier
from backoffice.reviewer.history import describe, lexicon_for, who
from backoffice.reviewer.views import colleagues
from backoffice.workflow import assignment, avis, emission, forms
from backoffice.workflow import convention as envoi
from backoffice.workflow.definitions import STEPS, CandidatureStatus, StepKind
from backoffice.workflow.delays import days_between
from backoffice.workflow.referentiels import profil_labels

TABS = (("formulaire", "Formulaire"), ("pieces", "Pièces justificatives"),
        ("preuves", "Preuves"), ("messagerie", "Messagerie"), ("historique", "Historique"),
        ("produit", "Produit"))


def _pieces(candidature) -> list[dict[str, Any]]:
    types = {(t.step, t.code): t for t in db.scalars(select(PieceType).where(
        PieceType.parcours == candidature.demarche.parcours))}
    # a file deleted by the support desk stays listed, marked so, with its motive
    rows = db.execute(select(Piece, Fichier).join(Fichier, Fichier.id == Piece.fichier_id)
                      .where(Piece.candidature_id == candidature.id)
                      .order_by(Piece.step, Piece.type_code, Fichier.uploaded_at)).all()
    out = []
    for piece, fichier in rows:
        kind = types.get((piece.step, piece.type_code))
        out.append({"piece": piece, "fichier": fichier,
                    "label": kind.label if kind else piece.type_code,
                    "required": bool(kind and kind.required)})
    return out


def default_tab(candidature, current) -> str:
    """The tab the dossier opens on when none is asked for: what the current step needs
    (the form and its pièces for a form step, the sections for the evidence and the
    collège, the story once the candidature is closed)."""
    if candidature.status != CandidatureStatus.en_cours:
        return "historique"
    if STEPS[current.step].kind in (StepKind.preuves, StepKind.preuves_pour_avis,
                                    StepKind.college):
        return "preuves"
    return "formulaire"


def _checklist(candidature, step: str) -> tuple[list[PieceType], list[dict[str, Any]]]:
    """The pièces the step asks for, each provided, deleted by the support desk, or
    missing, and the step's piece types: one query whatever their number."""
    rows = db.execute(
        select(PieceType, Fichier)
        .outerjoin(Piece, and_(Piece.type_code == PieceType.code, Piece.step == PieceType.step,
                               Piece.candidature_id == candidature.id))
        .outerjoin(Fichier, Fichier.id == Piece.fichier_id)
        .where(PieceType.parcours == candidature.demarche.parcours, PieceType.step == step)
        .order_by(PieceType.position, PieceType.code, Fichier.uploaded_at)).all()
    types: list[PieceType] = []
    files: dict[str, list[Fichier]] = {}
    for kind, fichier in rows:
        if kind.code not in files:
            types.append(kind)
            files[kind.code] = []
        if fichier is not None:
            files[kind.code].append(fichier)
    out = []
    for kind in types:
        live = [f for f in files[kind.code] if f.deleted_at is None]
        state = "fournie" if live else ("supprimee" if files[kind.code] else "manquante")
        out.append({"type": kind, "files": live, "state": state})
    return types, out


def _sections(candidature) -> list[dict[str, Any]]:
    sections = db.scalars(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id)
        .options(selectinload(SectionReview.exigences)).order_by(SectionReview.position)).all()
    counts = {exigence_id: count for exigence_id, count in db.execute(
        select(Preuve.exigence_id, func.count()).where(
            Preuve.candidature_id == candidature.id, Preuve.archived_at.is_(None))
        .group_by(Preuve.exigence_id))}
    return [{"section": s, "exigences": len(s.exigences),
             "preuves": sum(counts.get(e.id, 0) for e in s.exigences)} for s in sections]


MESSAGES_PAGE = 30  # messages per page of the messagerie tab, newest first


def _before(value: str | None) -> int | None:
    """The « messages précédents » cursor: the id of the oldest message shown."""
    if not value:
        return None
    if not value.isdigit():
        abort(400)
    return int(value)


def _thread(candidature, before: int | None) -> dict[str, Any]:
    """One page of the thread, newest first (keyset on the message id: no OFFSET; one
    query whatever the thread's length), with this user's last read message read in the
    same statement, then marked read on the first page."""
    last_read = (select(MessageRead.last_read_message_id)
                 .where(MessageRead.user_id == current_user.id,
                        MessageRead.candidature_id == candidature.id)
                 .scalar_subquery())
    stmt = (select(Message, func.coalesce(last_read, 0))
            .where(Message.candidature_id == candidature.id)
            .options(joinedload(Message.attachments))
            .order_by(Message.id.desc()).limit(MESSAGES_PAGE + 1))
    if before is not None:
        stmt = stmt.where(Message.id < before)
    rows = db.execute(stmt).unique().all()
    messages = [message for message, _ in rows[:MESSAGES_PAGE]]
    read_up_to = rows[0][1] if rows else 0
    if messages and before is None:
        mark_read(candidature.id, messages[0].id)
    return {"messages": messages, "read_up_to": read_up_to, "before": before,
            "older": messages[-1].id if len(rows) > MESSAGES_PAGE else None}


def mark_read(candidature_id: int, message_id: int) -> None:
    """Remember the last message this user saw (one upsert, never moving backwards)."""
    values = {"user_id": current_user.id, "candidature_id": candidature_id,
              "last_read_message_id": message_id}
    newest: Callable[..., Any]
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
        newest = func.greatest
    else:
        # the same on_conflict_do_update API, each dialect its own Insert class
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        newest = func.max  # SQLite's max() of two values
    stmt = insert(MessageRead).values(**values)
    # what this page loaded stays loaded (commit_marker does not expire it): expiring it
    # would reload each message and its attachments one by one while the template renders
    # them (1,094 queries at 500)
    commit_marker(stmt.on_conflict_do_update(
        index_elements=["user_id", "candidature_id"],
        set_={"last_read_message_id": newest(MessageRead.last_read_message_id,
                                              stmt.excluded.last_read_message_id)}))


def _unread(candidature) -> int:
    """The vendor's messages this user has not read (one query)."""
    last_read = (select(MessageRead.last_read_message_id)
                 .where(MessageRead.user_id == current_user.id,
                        MessageRead.candidature_id == candidature.id).scalar_subquery())
    return db.scalar(select(func.count(Message.id)).where(
        Message.candidature_id == candidature.id, Message.author_kind == "industriel",
        Message.id > func.coalesce(last_read, 0))) or 0


def _waiting(candidature, current) -> str | None:
    """Why a form step's decision is not offered to this user, in French."""
    if forms.current_form_step(candidature) is None:
        return None
    if current.status in forms.SUBMITTABLE:
        return "L'industriel a la main" + (" : des compléments lui ont été demandés."
                                           if current.status == "complements_demandes" else ".")
    if current.assignee_id and current.assignee_id != current_user.id:
        return f"Ce dossier est attribué à {current.assignee.name}."
    return "Prenez le dossier pour l'instruire."


@bp.route("/candidatures/<reference>")
@roles_required("verificateur")
def dossier(reference: str):
    candidature = load_dossier(reference)
    current = candidature.current
    tab = request.args.get("onglet") or default_tab(candidature, current)
    if tab not in dict(TABS):
        abort(404)
    now = utcnow()
    context: dict[str, Any] = {
        "candidature": candidature, "tab": tab, "tabs": TABS, "current": current,
        "kind": STEPS[current.step].kind.value, "now": now,
        "days_left": days_between(now, current.due_at, False) if current.due_at else None,
        "colleagues": colleagues(),
        "open": candidature.status == CandidatureStatus.en_cours,
        "can_take": assignment.can_prendre(current_user, candidature),
        "can_relancer": emission.can_relancer(current_user, candidature),
        "emission_en_echec": emission.en_echec(candidature),
        "can_hand_over": assignment.can_confier(current_user, candidature),
        "can_decide": forms.current_form_step(candidature) is not None
                      and forms.can_decider(current_user, candidature, current.step),
        "waiting": _waiting(candidature, current),
        "informative": forms.is_informative(candidature, current.step),
        # read only where the panel shows it (every query counts: docs/benchmarks.md)
        "convention": db.scalar(select(Convention).where(
            Convention.candidature_id == candidature.id))
        if STEPS[current.step].kind == StepKind.convention else None,
        "verbe_envoi": envoi.verbe_envoi(candidature)
        if STEPS[current.step].kind == StepKind.convention else None,
        "unread": _unread(candidature) if tab != "messagerie" else 0,
        # the issued certificate / attestation, read only once the candidature has one
        "certificat": db.scalar(select(Certificat).where(
            Certificat.candidature_id == candidature.id, Certificat.fichier_id.is_not(None)))
        if candidature.status in ("certifiee", "referencee") else None,
        # ligne générique: the zip received and what its analysis found (None otherwise)
        "pour_avis": avis.step_summary(candidature),
    }
    if tab == "formulaire":
        context["forms"] = db.scalars(select(StepForm).where(
            StepForm.candidature_id == candidature.id)).all()
        context["profil_labels"] = profil_labels(candidature) if any(
            f.data.get("profils") for f in context["forms"]) else {}
    elif tab == "pieces":
        context["pieces"] = _pieces(candidature)
    elif tab == "preuves":
        context["sections"] = _sections(candidature)
    elif tab == "messagerie":
        context.update(_thread(candidature, _before(request.args.get("avant"))))
        context["authors"] = {u.id: u for u in db.scalars(select(User).where(User.id.in_(
            {m.author_id for m in context["messages"] if m.author_id})))}
    elif tab == "historique":
        # openings of files are for the support desk's audit view, not the dossier's story
        events = db.scalars(select(AuditEvent).where(AuditEvent.candidature_id == candidature.id,
                                                     AuditEvent.action != "fichier.ouvrir")
                            .order_by(AuditEvent.id.desc())).all()
        lexicon = lexicon_for(candidature, events)
        context["events"] = [(e, who(e, lexicon), describe(e, lexicon)) for e in events]
    elif tab == "produit":
        context["evaluations"] = db.scalars(select(ProductEvaluation).where(
            ProductEvaluation.product_id == candidature.product_id)).all()
    convention = context["convention"]
    if context["kind"] == StepKind.convention.value and convention and \
            (convention.signed_fichier_id or convention.audit_trail_fichier_id):
        files = {f.id: f for f in db.scalars(select(Fichier).where(Fichier.id.in_(
            {convention.signed_fichier_id, convention.audit_trail_fichier_id} - {None})))}
        context["convention_file"] = files.get(convention.signed_fichier_id)
        context["audit_trail_file"] = files.get(convention.audit_trail_fichier_id)
    open_ = context["open"]
    if context["kind"] == StepKind.form.value and open_:
        # the step's pièces next to its decision: required, provided, deleted
        types, context["checklist"] = _checklist(candidature, current.step)
        if context["can_decide"]:
            context["piece_types"] = types
    elif context["kind"] == StepKind.preuves.value and open_:
        # the sections and their states next to the step (the preuves tab has them)
        context["step_sections"] = ([item["section"] for item in context["sections"]]
                                    if "sections" in context else
                                    db.scalars(select(SectionReview).where(
                                        SectionReview.candidature_id == candidature.id)
                                        .order_by(SectionReview.position)).all())
    elif context["kind"] == StepKind.college.value and open_:
        context["seance"] = db.scalar(
            select(Seance).join(AgendaItem, AgendaItem.seance_id == Seance.id)
            .where(AgendaItem.candidature_id == candidature.id)
            .order_by(Seance.date.desc()).limit(1))
    return render_template("reviewer/dossier.html", **context)
