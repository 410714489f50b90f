"""The dossier page: header, step timeline, and its tabs."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from backoffice.auth.access import roles_required
from backoffice.db import db, utcnow
from backoffice.models import (
    AuditEvent,
    Convention,
    Fichier,
    Message,
    MessageRead,
    Piece,
    PieceType,
    Preuve,
    ProductEvaluation,
    SectionReview,
    StepForm,
    User,
)
from backoffice.reviewer import bp
from backoffice.reviewer.access import load_dossier
from backoffice.reviewer.history import describe
from backoffice.reviewer.views import colleagues
from backoffice.workflow import assignment, forms
from backoffice.workflow.definitions import STEPS, StepKind
from backoffice.workflow.delays import days_between

TABS = (("formulaire", "Formulaire"), ("pieces", "Pièces justificatives"),
        ("preuves", "Preuves"), ("messagerie", "Messagerie"), ("historique", "Historique"),
        ("produit", "Produit"))


def _pieces(candidature) -> list[dict[str, Any]]:  # noqa: ANN001
    types = {(t.step, t.code): t for t in db.scalars(select(PieceType).where(
        PieceType.parcours == candidature.demarche.parcours))}
    rows = db.execute(select(Piece, Fichier).join(Fichier, Fichier.id == Piece.fichier_id)
                      .where(Piece.candidature_id == candidature.id,
                             Fichier.deleted_at.is_(None))
                      .order_by(Piece.step, Piece.type_code, Fichier.uploaded_at)).all()
    out = []
    for piece, fichier in rows:
        kind = types.get((piece.step, piece.type_code))
        out.append({"piece": piece, "fichier": fichier,
                    "label": kind.label if kind else piece.type_code,
                    "required": bool(kind and kind.required)})
    return out


def _sections(candidature) -> list[dict[str, Any]]:  # noqa: ANN001
    sections = db.scalars(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id)
        .options(selectinload(SectionReview.exigences)).order_by(SectionReview.position)).all()
    counts = {exigence_id: count for exigence_id, count in db.execute(
        select(Preuve.exigence_id, func.count()).where(
            Preuve.candidature_id == candidature.id, Preuve.archived_at.is_(None))
        .group_by(Preuve.exigence_id))}
    return [{"section": s, "exigences": len(s.exigences),
             "preuves": sum(counts.get(e.id, 0) for e in s.exigences)} for s in sections]


def _thread(candidature) -> list[Message]:  # noqa: ANN001
    messages = db.scalars(select(Message).where(Message.candidature_id == candidature.id)
                          .options(joinedload(Message.attachments))
                          .order_by(Message.id)).unique().all()
    if messages:
        mark_read(candidature.id, messages[-1].id)
    return list(messages)


def mark_read(candidature_id: int, message_id: int) -> None:
    """Remember the last message this user saw (one upsert, never moving backwards)."""
    values = {"user_id": current_user.id, "candidature_id": candidature_id,
              "last_read_message_id": message_id}
    if db().bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
        newest = func.greatest
    else:
        from sqlalchemy.dialects.sqlite import insert
        newest = func.max  # SQLite's max() of two values
    stmt = insert(MessageRead).values(**values)
    db.execute(stmt.on_conflict_do_update(
        index_elements=["user_id", "candidature_id"],
        set_={"last_read_message_id": newest(MessageRead.last_read_message_id,
                                              stmt.excluded.last_read_message_id)}))
    # what this page loaded stays loaded: expiring it would reload each message and its
    # attachments one by one while the template renders them (1,094 queries at 500)
    session = db()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _unread(candidature) -> int:  # noqa: ANN001
    """The vendor's messages this user has not read (one query)."""
    last_read = (select(MessageRead.last_read_message_id)
                 .where(MessageRead.user_id == current_user.id,
                        MessageRead.candidature_id == candidature.id).scalar_subquery())
    return db.scalar(select(func.count(Message.id)).where(
        Message.candidature_id == candidature.id, Message.author_kind == "industriel",
        Message.id > func.coalesce(last_read, 0))) or 0


@bp.route("/candidatures/<reference>")
@roles_required("verificateur")
def dossier(reference: str):
    candidature = load_dossier(reference)
    tab = request.args.get("onglet", "formulaire")
    if tab not in dict(TABS):
        abort(404)
    current = candidature.current
    now = utcnow()
    context: dict[str, Any] = {
        "candidature": candidature, "tab": tab, "tabs": TABS, "current": current,
        "kind": STEPS[current.step].kind.value, "now": now,
        "days_left": days_between(now, current.due_at, False) if current.due_at else None,
        "colleagues": colleagues(),
        "can_take": assignment.can_prendre(current_user, candidature),
        "can_decide": forms.current_form_step(candidature) is not None
                      and current.status == "en_instruction"
                      and current.assignee_id == current_user.id,
        "informative": forms.is_informative(candidature, current.step),
        # read only where the panel shows it (every query counts: docs/benchmarks.md)
        "convention": db.scalar(select(Convention).where(
            Convention.candidature_id == candidature.id))
        if STEPS[current.step].kind == StepKind.convention else None,
        "unread": _unread(candidature) if tab != "messagerie" else 0,
    }
    if tab == "formulaire":
        context["forms"] = db.scalars(select(StepForm).where(
            StepForm.candidature_id == candidature.id)).all()
    elif tab == "pieces":
        context["pieces"] = _pieces(candidature)
    elif tab == "preuves":
        context["sections"] = _sections(candidature)
    elif tab == "messagerie":
        context["messages"] = _thread(candidature)
        context["authors"] = {u.id: u for u in db.scalars(select(User).where(User.id.in_(
            {m.author_id for m in context["messages"] if m.author_id})))}
    elif tab == "historique":
        events = db.scalars(select(AuditEvent).where(AuditEvent.candidature_id == candidature.id)
                            .order_by(AuditEvent.id.desc())).all()
        context["events"] = [(e, describe(e)) for e in events]
    elif tab == "produit":
        context["evaluations"] = db.scalars(select(ProductEvaluation).where(
            ProductEvaluation.product_id == candidature.product_id)).all()
    convention = context["convention"]
    if context["kind"] == StepKind.convention.value and convention and \
            convention.signed_fichier_id:
        context["convention_file"] = db.get(Fichier, convention.signed_fichier_id)
    if context["kind"] == StepKind.form.value and context["can_decide"]:
        context["piece_types"] = db.scalars(select(PieceType).where(
            PieceType.parcours == candidature.demarche.parcours,
            PieceType.step == current.step).order_by(PieceType.position)).all()
    return render_template("reviewer/dossier.html", **context)
