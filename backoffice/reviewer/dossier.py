"""The dossier page: header, step timeline, and its tabs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, render_template, request
from flask_login import current_user
from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload, selectinload

from backoffice.auth.access import roles_required
from backoffice.db import commit_record, db, utcnow
from backoffice.models import (
    AgendaItem,
    AuditEvent,
    Certificat,
    Convention,
    DelayRule,
    Fichier,
    Message,
    MessageRead,
    Piece,
    PieceType,
    Preuve,
    ProductEvaluation,
    Profil,
    Seance,
    SectionReview,
    StepForm,
    User,
)
from backoffice.reviewer import bp
from backoffice.reviewer.access import load_dossier
from backoffice.reviewer.history import describe, lexicon_for, who
from backoffice.reviewer.nouveautes import LABELS, dossier_news, seen_statement
from backoffice.reviewer.views import colleagues
from backoffice.workflow import assignment, avis, emission, forms
from backoffice.workflow import convention as envoi
from backoffice.workflow.definitions import STEPS, CandidatureStatus, StepKind
from backoffice.workflow.delays import days_between
from backoffice.workflow.referentiels import profils_referentiel

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


def _checklist(candidature, step: str) -> tuple[list[PieceType], list[dict[str, Any]],
                                                 dict[str, str]]:
    """The pièces the step asks for, each provided, deleted by the support desk, or
    missing, the step's piece types, and the labels of every piece type of the parcours
    (the Historique names the pièces of any step with them): one query whatever their
    number."""
    rows = db.execute(
        select(PieceType, Fichier)
        .outerjoin(Piece, and_(Piece.type_code == PieceType.code, Piece.step == PieceType.step,
                               Piece.candidature_id == candidature.id,
                               PieceType.step == step))
        .outerjoin(Fichier, Fichier.id == Piece.fichier_id)
        .where(PieceType.parcours == candidature.demarche.parcours)
        .order_by(PieceType.position, PieceType.code, Fichier.uploaded_at)).all()
    types: list[PieceType] = []
    files: dict[str, list[Fichier]] = {}
    labels: dict[str, str] = {}
    for kind, fichier in rows:
        labels[kind.code] = kind.label
        if kind.step != step:
            continue
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
    return types, out, labels


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


def id_cursor(value: str | None) -> int | None:
    """A keyset cursor given back by a page (`?avant=`): the id of the oldest row shown
    (« messages précédents », the « Activité » page); 400 when it is not one."""
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
    return {"messages": messages, "read_up_to": read_up_to, "before": before,
            "older": messages[-1].id if len(rows) > MESSAGES_PAGE else None,
            # the first page marks the thread read (written with the visit: dossier())
            "read_marker": read_statement(candidature.id, messages[0].id)
            if messages and before is None else None}


def read_statement(candidature_id: int, message_id: int) -> Any:
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
    return stmt.on_conflict_do_update(
        index_elements=["user_id", "candidature_id"],
        set_={"last_read_message_id": newest(MessageRead.last_read_message_id,
                                              stmt.excluded.last_read_message_id)})


def _unread(candidature) -> Any:
    """The vendor's messages this user has not read (a scalar subquery: it is read with
    the tabs' marks, nouveautes.dossier_news)."""
    last_read = (select(MessageRead.last_read_message_id)
                 .where(MessageRead.user_id == current_user.id,
                        MessageRead.candidature_id == candidature.id).scalar_subquery())
    return select(func.count(Message.id)).where(
        Message.candidature_id == candidature.id, Message.author_kind == "industriel",
        Message.id > func.coalesce(last_read, 0)).scalar_subquery()


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
        "days_left": None,  # below, in the delay rule's unit
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
        # the issued certificate / attestation, read only once the candidature has one
        "certificat": db.scalar(select(Certificat).where(
            Certificat.candidature_id == candidature.id, Certificat.fichier_id.is_not(None)))
        if candidature.status in ("certifiee", "referencee") else None,
        # ligne générique: the zip received and what its analysis found (None otherwise)
        "pour_avis": avis.step_summary(candidature),
        "mark_labels": LABELS,
    }
    # « Nouveau » / « Modifié » on the tabs (what others did since my last visit), with
    # the unread count of the Messagerie tab's label, and the unit of the step's delay,
    # in one statement
    riders = {"working": select(DelayRule.working_days).where(
        DelayRule.demarche_code == candidature.demarche_code,
        DelayRule.step == current.step).scalar_subquery()}
    if tab != "messagerie":
        riders["unread"] = _unread(candidature)
    context["tab_marks"], values, seen_moves = dossier_news(
        current_user.id, candidature.id, candidature.reference, now, riders=riders)
    context["unread"] = values.get("unread") or 0
    # days left as the rule counts them: calendar or working days (design.md, Delays)
    context["working_days"] = bool(values.get("working"))
    if current.due_at:
        context["days_left"] = days_between(now, current.due_at, context["working_days"])
    if tab == "formulaire":
        # the forms and the profils' labels in one statement (a few forms × a few
        # profils): the page keeps its budget on the first page of a visit with news
        rows = db.execute(select(StepForm, Profil.code, Profil.label)
                          .outerjoin(Profil, Profil.referentiel_id
                                     == profils_referentiel(candidature))
                          .where(StepForm.candidature_id == candidature.id)
                          .order_by(StepForm.id)).all()
        context["forms"] = list(dict.fromkeys(form for form, _, _ in rows))
        context["profil_labels"] = {code: label for _, code, label in rows if code}
    elif tab == "pieces":
        context["pieces"] = _pieces(candidature)
    elif tab == "preuves":
        context["sections"] = _sections(candidature)
    elif tab == "messagerie":
        context.update(_thread(candidature, id_cursor(request.args.get("avant"))))
        # the authors are mostly the colleagues already read: ask only for the others
        authors = {c.id: c for c in context["colleagues"]}
        missing = {m.author_id for m in context["messages"] if m.author_id} - set(authors)
        if missing:
            authors.update({u.id: u for u in db.scalars(select(User).where(
                User.id.in_(missing)))})
        context["authors"] = authors
    elif tab == "historique":
        # openings of files are for the support desk's audit view, not the dossier's story
        events = db.scalars(select(AuditEvent).where(AuditEvent.candidature_id == candidature.id,
                                                     AuditEvent.action != "fichier.ouvrir")
                            .order_by(AuditEvent.id.desc())).all()
        labels = None
        if context["kind"] == StepKind.form.value and context["open"]:
            # the step's checklist (below) reads every pièce label of the parcours too
            context["_checklist"] = _checklist(candidature, current.step)
            labels = context["_checklist"][2]
        lexicon = lexicon_for(candidature, events, piece_labels=labels)
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
        types, context["checklist"], _ = context.pop("_checklist", None) or \
            _checklist(candidature, current.step)
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
    # A GET writes here on purpose (db.commit_record, like the audited reads): the time
    # this user saw the dossier — the queue's and the tabs' « Nouveau » / « Modifié »
    # compare with it; written only when that changes a mark (dossier_news) — and, on
    # the Messagerie tab, how far they read the thread. One short transaction after the
    # page's reads; what the page loaded stays loaded (expiring it would reload each
    # message and its attachments one by one while the template renders them: 1,094
    # queries at 500).
    writes = [w for w in (seen_statement(current_user.id, candidature.id, now)
                          if seen_moves else None, context.pop("read_marker", None))
              if w is not None]
    if writes:
        commit_record(lambda: [db.execute(w) for w in writes])
    return render_template("reviewer/dossier.html", **context)
