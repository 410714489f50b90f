"""The collège de certification: séances, agenda, votes, decisions, procès-verbal, and
the read-only dossier with its synthesis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload, selectinload

from backoffice.auth.access import roles_required
from backoffice.college import scope
from backoffice.db import db
from backoffice.models import (
    AgendaItem,
    AuditEvent,
    Candidature,
    CandidatureExigence,
    CandidatureStep,
    Referentiel,
    Seance,
    SectionReview,
    User,
    UserRole,
)
from backoffice.reviewer.history import describe, who
from backoffice.uploads import storage
from backoffice.workflow import seances
from backoffice.workflow.base import TransitionError

bp = Blueprint("college", __name__)
PARIS = ZoneInfo("Europe/Paris")
COLLEGE = ("college", "admin")


def _seance(seance_id: int) -> Seance:
    # what the séance's page shows in a fixed number of queries (budget: 8 per page): the
    # members once (their roles and teams only if asked); the président, the voters and
    # the conflicted are members, found in the session without a query
    items = selectinload(Seance.items)
    seance = db.scalar(select(Seance).where(Seance.id == seance_id).options(
        selectinload(Seance.members).lazyload(User.role_rows),
        selectinload(Seance.members).lazyload(User.teams),
        items.joinedload(AgendaItem.votes), items.joinedload(AgendaItem.conflicts),
        items.joinedload(AgendaItem.candidature).joinedload(Candidature.product),
        items.joinedload(AgendaItem.candidature).joinedload(Candidature.organisation)))
    if seance is None:
        abort(404)
    return seance


def _item(seance: Seance, item_id: int) -> AgendaItem:
    item = next((i for i in seance.items if i.id == item_id), None)
    if item is None:
        abort(404)
    return item


def _college_members() -> list[User]:
    return list(db.scalars(select(User).join(UserRole).where(
        UserRole.role == "college", User.active.is_(True)).order_by(User.name)))


def _with_counts(query):
    """Séances with the number of dossiers on their agenda (one query, no lazy load)."""
    count = select(func.count(AgendaItem.id)).where(
        AgendaItem.seance_id == Seance.id).correlate(Seance).scalar_subquery()
    return db.execute(query.add_columns(count.label("dossiers"))).all()


@bp.route("/")
@roles_required(*COLLEGE)
def home():
    """The member's next séances (an administrator: every open one), the dossiers à
    programmer waiting for a séance, and every séance."""
    upcoming = select(Seance).where(Seance.status == "ouverte").order_by(Seance.date)
    if not current_user.has_role("admin"):
        upcoming = upcoming.where(Seance.members.any(User.id == current_user.id))
    waiting = db.execute(
        select(Candidature, CandidatureStep.opened_at).join(CandidatureStep, and_(
            CandidatureStep.candidature_id == Candidature.id,
            CandidatureStep.step == "college")).where(
            CandidatureStep.status == "a_programmer", Candidature.status == "en_cours",
            Candidature.current_step == "college")
        .options(joinedload(Candidature.product), joinedload(Candidature.organisation))
        .order_by(CandidatureStep.opened_at, Candidature.id).limit(200)).all()
    return render_template(
        "college/home.html", upcoming=_with_counts(upcoming.limit(20)),
        seances=_with_counts(select(Seance).order_by(Seance.date.desc()).limit(100)),
        waiting=waiting, started=seances.started,
        # administrators read every DMN dossier; a member, those of their séances' agendas
        links=current_user.has_role("admin"), can_prepare=seances.can_prepare(current_user))


@bp.route("/seances/nouvelle", methods=["GET", "POST"])
@roles_required(*COLLEGE)
def new_seance():
    if not seances.can_prepare(current_user):
        abort(403)
    from flask_wtf import FlaskForm

    form = FlaskForm()
    members = _college_members()
    errors: list[str] = []
    if request.method == "POST" and form.validate_on_submit():
        chosen = [m for m in members if str(m.id) in request.form.getlist("membres")]
        president = next((m for m in chosen if str(m.id) == request.form.get("president")), None)
        try:
            date = datetime.fromisoformat(request.form.get("date", "")).replace(tzinfo=PARIS)
        except ValueError:
            errors.append("La date de la séance est invalide.")
        quorum = request.form.get("quorum", "")
        if president is None:
            errors.append("Choisissez un président parmi les membres cochés.")
        if not errors:
            try:
                seance = seances.creer(actor=current_user, date=date,
                                       label=request.form.get("libelle", ""), members=chosen,
                                       president=president,
                                       quorum=int(quorum) if quorum.isdigit() else None)
                db.flush()  # its id, for the redirect; the request commits
                flash("Séance créée.", "success")
                return redirect(url_for("college.seance", seance_id=seance.id))
            except TransitionError as error:
                db.rollback()
                errors.append(error.message)
    return render_template("college/new_seance.html", members=members, errors=errors), \
        422 if errors else 200


@bp.route("/seances/<int(max=2147483647):seance_id>")
@roles_required(*COLLEGE)
def seance(seance_id: int):
    seance = _seance(seance_id)
    candidates: Sequence[Candidature] = ()
    if seance.status == "ouverte" and seances.can_prepare(current_user):
        candidates = db.scalars(select(Candidature).join(CandidatureStep, and_(
            CandidatureStep.candidature_id == Candidature.id,
            CandidatureStep.step == "college")).where(
            CandidatureStep.status == "a_programmer", Candidature.status == "en_cours",
            Candidature.current_step == "college")
            .options(selectinload(Candidature.product)).order_by(Candidature.id)).all()
    return render_template("college/seance.html", seance=seance, candidates=candidates,
                           can_prepare=seances.can_prepare(current_user),
                           can_vote=partial(seances.can_voter, current_user),
                           can_conflict=partial(seances.can_declarer_conflit, current_user),
                           waiting_start=seance.status == "ouverte"
                           and not seances.started(seance),
                           reads_reasons=seances.reads_conflict_reasons(current_user, seance),
                           can_decide=partial(seances.can_decider, current_user),
                           can_close=seances.can_clore(current_user, seance),
                           reads_dossiers=scope.reads_agenda(current_user, seance),
                           quorum_reached=seances.quorum_reached)


def _act(seance: Seance, action, *args, success: str, **kwargs):
    from flask_wtf import FlaskForm

    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        action(*args, **kwargs)
        flash(success, "success")
    except TransitionError as error:
        db.rollback()
        flash(error.message, "error")
    return redirect(url_for("college.seance", seance_id=seance.id))


@bp.post("/seances/<int(max=2147483647):seance_id>/inscrire")
@roles_required(*COLLEGE)
def seance_inscrire(seance_id: int):
    seance = _seance(seance_id)
    reference = request.form.get("reference", "")
    from backoffice.workflow.base import load_for_update

    candidature = load_for_update(reference)
    if candidature is None:
        abort(404)
    return _act(seance, seances.inscrire, seance, candidature, actor=current_user,
                success=f"{reference} inscrite à l'ordre du jour.")


@bp.post("/seances/<int(max=2147483647):seance_id>/points/<int(max=2147483647):item_id>/voter")
@roles_required("college")
def seance_voter(seance_id: int, item_id: int):
    seance = _seance(seance_id)
    item = _item(seance, item_id)
    return _act(seance, seances.voter, item, actor=current_user,
                vote=request.form.get("vote", ""), comment=request.form.get("commentaire"),
                success="Vote enregistré.")


@bp.route("/seances/<int(max=2147483647):seance_id>/points/<int(max=2147483647):item_id>/conflit",
          methods=["GET", "POST"])
@roles_required("college")
def seance_conflit(seance_id: int, item_id: int):
    """A second step: the reason and a confirmation (no JavaScript needed)."""
    from backoffice.college.forms import ConflitForm

    seance = _seance(seance_id)
    item = _item(seance, item_id)
    form = ConflitForm()
    if form.validate_on_submit():
        try:
            seances.declarer_conflit(item, actor=current_user, reason=form.raison.data)
            flash("Conflit d'intérêts déclaré.", "success")
            return redirect(url_for("college.seance", seance_id=seance.id) + f"#point-{item.id}")
        except TransitionError as error:
            db.rollback()
            form.raison.errors = [*form.raison.errors, error.message]
    elif request.method == "GET" and not seances.can_declarer_conflit(current_user, item):
        abort(403)
    status = 422 if request.method == "POST" else 200
    return render_template("college/conflit.html", seance=seance, item=item, form=form), status


@bp.post("/seances/<int(max=2147483647):seance_id>/points/<int(max=2147483647):item_id>/decider")
@roles_required("college")
def seance_decider(seance_id: int, item_id: int):
    seance = _seance(seance_id)
    item = _item(seance, item_id)
    from backoffice.workflow.base import load_for_update

    load_for_update(item.candidature.reference)
    sections = [s.strip() for s in (request.form.get("sections") or "").split(",") if s.strip()]
    return _act(seance, seances.decider, item, actor=current_user,
                decision=request.form.get("decision", ""), motive=request.form.get("motif"),
                sections=sections, success="Décision enregistrée.")


@bp.post("/seances/<int(max=2147483647):seance_id>/clore")
@roles_required(*COLLEGE)
def seance_clore(seance_id: int):
    seance = _seance(seance_id)
    return _act(seance, seances.clore, seance, actor=current_user,
                success="Séance close : le procès-verbal est en cours de génération.")


@bp.get("/seances/<int(max=2147483647):seance_id>/proces-verbal.pdf")
@roles_required(*COLLEGE)
def seance_pv(seance_id: int):
    seance = _seance(seance_id)
    if not seance.pv_storage_key:
        abort(404)
    return send_file(storage().open(seance.pv_storage_key), mimetype="application/pdf",
                     as_attachment=True, download_name=f"proces-verbal-seance-{seance.id}.pdf")


@bp.route("/dossiers/<reference>")
@roles_required(*COLLEGE)
def dossier(reference: str):
    """Read-only: the whole DMN dossier, with a one-page synthesis first."""
    # what the page shows of the candidature in one query (budget: 8 per page, issue 19)
    # with the référentiel fixed at recevabilité and its profils' labels
    found = db.execute(select(Candidature, Referentiel).outerjoin(
        Referentiel, Referentiel.id == Candidature.referentiel_id)
        .where(Candidature.reference == reference)
        .options(joinedload(Candidature.steps), joinedload(Candidature.product),
                 joinedload(Candidature.organisation), joinedload(Candidature.demarche),
                 joinedload(Referentiel.profils))).unique().first()
    candidature, referentiel = found if found is not None else (None, None)
    # out of scope answers like an unknown reference: nothing tells a dossier exists
    if candidature is None or not scope.can_read_dossier(current_user, candidature):
        abort(404)
    sections = db.scalars(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id).options(
        joinedload(SectionReview.exigences).joinedload(CandidatureExigence.verdicts))
        .order_by(SectionReview.position)).unique().all()
    non_applicable = [(e, v) for s in sections for e in s.exigences for v in e.verdicts
                      if v.verdict == "non_applicable" and v.round == s.round]
    # the events with their actors' names, in one query
    rows = db.execute(select(AuditEvent, User.name).outerjoin(
        User, User.id == AuditEvent.actor_id).where(
        AuditEvent.candidature_id == candidature.id, AuditEvent.action != "fichier.ouvrir")
        .order_by(AuditEvent.id)).all()
    events = [event for event, _ in rows]
    people = {event.actor_id: name for event, name in rows if name}
    verdict_count = sum(len(e.verdicts) for s in sections for e in s.exigences)  # loaded
    from backoffice.models import Fichier, Message, Piece, PieceType, Preuve, StepForm

    forms = db.scalars(select(StepForm).where(StepForm.candidature_id == candidature.id)).all()
    # every pièce (with its type's label) and every preuve, archived ones included, in one
    # query (budget: 8 queries per page, issue 19)
    files = db.execute(
        select(Fichier, Piece, Preuve, PieceType.label)
        .outerjoin(Piece, Piece.fichier_id == Fichier.id)
        .outerjoin(Preuve, Preuve.fichier_id == Fichier.id)
        .outerjoin(PieceType, (PieceType.parcours == candidature.demarche.parcours)
                   & (PieceType.step == Piece.step) & (PieceType.code == Piece.type_code))
        .where(Fichier.candidature_id == candidature.id,
               (Piece.id.is_not(None)) | (Preuve.id.is_not(None)))
        .order_by(Fichier.id)).all()
    pieces = [(piece, f) for f, piece, _, _ in files if piece is not None]
    piece_labels = {piece.type_code: label for _, piece, _, label in files if label}
    preuves: dict[int, list[tuple]] = {}
    for f, _, preuve, _ in files:
        if preuve is not None:
            preuves.setdefault(preuve.exigence_id, []).append((preuve, f))
    messages = db.scalars(select(Message).where(Message.candidature_id == candidature.id)
                          .order_by(Message.id)).all()
    profil_labels = {p.code: p.label for p in referentiel.profils} if referentiel else {}
    told = _told(candidature, events, sections, people, piece_labels)
    return render_template("college/dossier.html", candidature=candidature, sections=sections,
                           forms=forms, pieces=pieces, preuves=preuves,
                           rounds=_rounds(sections, told), messages=messages,
                           profil_labels=profil_labels, piece_labels=piece_labels,
                           non_applicable=non_applicable, referentiel=referentiel,
                           events=told, verdict_count=verdict_count,
                           previewable=PREVIEWABLE)


PREVIEWABLE = frozenset({"pdf", "png", "jpeg"})
# a section's history as its rounds went: submitted, modifications requested, validated,
# reopened by the collège (the audit actions of backoffice/workflow/preuves.py)
ROUND_EVENTS = {"section.soumettre": "soumise",
                "section.demander_modifications": "modifications demandées",
                "section.valider": "validée", "section.rouvrir": "rouverte par le collège"}


def _rounds(sections, told) -> dict[int, list[tuple]]:
    """Per section: (round or None, what happened, when, who), in order."""
    ids = {str(s.id): s.id for s in sections}
    out: dict[int, list[tuple]] = {s.id: [] for s in sections}
    for event, person, _ in told:
        if event.target_type == "sectionreview" and event.action in ROUND_EVENTS \
                and event.target_id in ids:
            out[ids[event.target_id]].append(((event.after or {}).get("round"),
                                              ROUND_EVENTS[event.action], event.created_at,
                                              person))
    return out


def _told(candidature, events, sections, people, piece_labels) -> list[tuple]:
    """Each event with its person and its sentence, from what the page loaded: the sections
    with their exigences, the actors' names, the pièces' labels (an event names the type of
    a pièce the dossier holds); an assignee's name is read only when an event names one."""
    from backoffice.reviewer.history import Lexicon, people_named

    assignees = [e for e in events if any(
        isinstance(p.get("assignee"), int) and p["assignee"] not in people
        for p in (e.before or {}, e.after or {}))]
    lexicon = Lexicon(sections={s.code: s.title for s in sections},
                      section_ids={str(s.id): s.code for s in sections},
                      exigences={e.code: e.title for s in sections for e in s.exigences},
                      pieces=piece_labels, people={**people_named(assignees), **people})
    return [(e, who(e, lexicon), describe(e, lexicon)) for e in events]


def _readable(fichier_id: int):
    """A file of a dossier the member may read (scope.py), never an internal note's."""
    from backoffice.models import Fichier

    fichier = db.get(Fichier, fichier_id)
    if fichier is None or not scope.can_read_file(current_user, fichier):
        abort(404)
    return fichier


@bp.get("/fichiers/<int(max=2147483647):fichier_id>")
@roles_required(*COLLEGE)
def download(fichier_id: int):
    from backoffice import downloads

    return downloads.serve(_readable(fichier_id), "attachment")


@bp.get("/fichiers/<int(max=2147483647):fichier_id>/apercu")
@roles_required(*COLLEGE)
def preview(fichier_id: int):
    """Read-only, the vérificateur's safe preview: images inline (sandboxed), a PDF as
    pages drawn by the server (backoffice/pdfview.py), never the vendor's PDF inline."""
    from backoffice.reviewer.files import safe_preview

    fichier = _readable(fichier_id)
    if fichier.kind not in PREVIEWABLE:
        abort(404)
    return safe_preview(fichier, "college.download", "college.preview_page")


@bp.get("/fichiers/<int(max=2147483647):fichier_id>/apercu/<int(min=1, max=10000):page>.png")
@roles_required(*COLLEGE)
def preview_page(fichier_id: int, page: int):
    from backoffice import downloads, pdfview
    from backoffice.reviewer.files import pdfview_image

    fichier = _readable(fichier_id)
    if fichier.kind != "pdf" or downloads.refusal(fichier) is not None:
        abort(404)
    return pdfview_image(pdfview.Source(path=storage().path(fichier.storage_key)), page)
