"""The « Activité » page (issue 18, item 1): what others did on my dossiers and my
teams' since my last visit, told as the Historique tab tells it, filtered by type of
event, démarche and scope, newest first, by pages fetched by key (`avant=<event id>`).

The time of the last visit is kept per user (`notification_preference.activity_seen_at`);
like a dossier's visit, a visit of this page spans its filters and pages (the session
keeps the time it started from) and ends after VISIT_MINUTES without a page of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import abort, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import exists, or_, select

from backoffice.auth.access import roles_required
from backoffice.db import commit_record, db, utcnow
from backoffice.models import (
    AuditEvent,
    Candidature,
    CandidatureStep,
    NotificationPreference,
    PieceType,
    Product,
)
from backoffice.queues.candidatures import visible_demarches
from backoffice.reviewer import bp
from backoffice.reviewer.dossier import id_cursor
from backoffice.reviewer.history import Lexicon, describe, people_named, who
from backoffice.reviewer.nouveautes import NOT_NEWS, VISIT_MINUTES
from backoffice.workflow.definitions import DEMARCHES

PAGE = 50
# type of event -> (label, the audit actions it covers: SQL LIKE patterns)
TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "messages": ("Messages et notes", ("messagerie.%",)),
    "depots": ("Dépôts et réponses de l'industriel", ("%.soumettre",)),
    "fichiers": ("Pièces et preuves", (
        "%.ajouter_piece", "preuves.deposer", "preuves.archiver",
        "preuves.declarer_non_applicable", "pour_avis.deposer", "pour_avis.retirer",
        "support.supprimer_fichier", "antivirus.fichier_infecte")),
    "decisions": ("Décisions et demandes de l'ANS", (
        "%.valider", "%.rejeter", "%.demander_complements", "section.demander_modifications",
        "section.juger_exigence", "section.commencer_revue", "section.rouvrir",
        "pour_avis.rendre_avis", "candidature.%")),
    "attributions": ("Attributions", ("attribution.%", "%.prendre")),
    "convention": ("Convention", ("convention.%",)),
    "college": ("Collège", ("college.%", "seance.inscrire", "seance.decider")),
}
SCOPES = {"equipes": "Les dossiers de mes équipes", "miens": "Mes dossiers"}
PERIODS = {"visite": "Depuis ma dernière visite", "7j": "Les 7 derniers jours",
           "30j": "Les 30 derniers jours"}
FIRST_VISIT_DAYS = 7  # never visited: the last week


def _visit(now: datetime) -> datetime:
    """The time of the visit before this one (read, and the new one written, when a
    visit starts: two statements; none on the pages of a visit under way)."""
    visit = session.get("visite_activite")
    if visit and now - datetime.fromisoformat(visit["last"]) <= timedelta(
            minutes=VISIT_MINUTES):
        since = datetime.fromisoformat(visit["since"])
    else:
        seen = db.scalar(select(NotificationPreference.activity_seen_at).where(
            NotificationPreference.user_id == current_user.id))
        since = seen or now - timedelta(days=FIRST_VISIT_DAYS)
        # A GET writes here on purpose (db.commit_record, like the dossier's seen mark):
        # the time of this visit, from which the next one lists what is new.
        commit_record(lambda: db.execute(_visited(current_user.id, now)))
    session["visite_activite"] = {"since": since.isoformat(), "last": now.isoformat()}
    return since


def _visited(user_id: int, at: datetime) -> Any:
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        # the same on_conflict_do_update API, each dialect its own Insert class
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(NotificationPreference).values(user_id=user_id, activity_seen_at=at)
    return stmt.on_conflict_do_update(index_elements=["user_id"],
                                      set_={"activity_seen_at": at})


def events_query(user_id: int, demarches: list[str], *, since: datetime,
                 types: Sequence[str] = (), mine: bool = False, before: int | None = None,
                 until: datetime | None = None):
    """What others did on these démarches' dossiers (mine only: those whose steps I hold,
    held or decided) after `since`, newest first: (event, reference, product)."""
    stmt = (select(AuditEvent, Candidature.reference, Product.name)
            .join(Candidature, Candidature.id == AuditEvent.candidature_id)
            .join(Product, Product.id == Candidature.product_id)
            .where(Candidature.demarche_code.in_(demarches),
                   AuditEvent.created_at > since,
                   AuditEvent.action.not_in(NOT_NEWS),
                   or_(AuditEvent.actor_id.is_(None), AuditEvent.actor_id != user_id))
            .order_by(AuditEvent.id.desc()))
    if until is not None:
        stmt = stmt.where(AuditEvent.created_at <= until)
    if types:
        stmt = stmt.where(or_(*(AuditEvent.action.like(pattern)
                                for code in types for pattern in TYPES[code][1])))
    if mine:
        stmt = stmt.where(exists().where(
            CandidatureStep.candidature_id == Candidature.id,
            or_(CandidatureStep.assignee_id == user_id,
                CandidatureStep.decided_by_id == user_id)))
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    return stmt


def told(rows: Sequence[Any], parcours: set[str]) -> list[dict[str, Any]]:
    """Each event as the Historique tab says it (people's names, pièce labels: at most
    two queries for the page)."""
    events = [row[0] for row in rows]
    pieces: dict[str, str] = {}
    if any((e.after or {}).get("type") for e in events):
        pieces = dict(db.execute(select(PieceType.code, PieceType.label).where(
            PieceType.parcours.in_(parcours))).tuples().all())
    lexicon = Lexicon(pieces=pieces, people=people_named(events))
    return [{"event": e, "reference": reference, "product": product,
             "who": who(e, lexicon), "what": describe(e, lexicon)}
            for e, reference, product in rows]


@bp.route("/activite")
@roles_required("verificateur")
def activite():
    now = utcnow()
    visible = visible_demarches(current_user)
    types = [t for t in request.args.getlist("type") if t in TYPES]
    demarche = request.args.get("demarche") or None
    if demarche and demarche not in visible:
        abort(404)
    scope = request.args.get("perimetre", "equipes")
    period = request.args.get("periode", "visite")
    if scope not in SCOPES or period not in PERIODS:
        abort(400)
    since = _visit(now)
    if period != "visite":
        since = now - timedelta(days=int(period.removesuffix("j")))
    before = id_cursor(request.args.get("avant"))
    rows = db.execute(events_query(
        current_user.id, [demarche] if demarche else visible, since=since, types=types,
        mine=scope == "miens", before=before).limit(PAGE + 1)).all()
    entries = told(rows[:PAGE], current_user.parcours)
    args = {"type": types, "demarche": demarche, "perimetre": scope, "periode": period}
    return render_template(
        "reviewer/activite.html", entries=entries, since=since, args=args,
        older=rows[PAGE - 1][0].id if len(rows) > PAGE else None, first_page=before is None,
        types=TYPES, scopes=SCOPES, periods=PERIODS,
        demarches=[(code, DEMARCHES[code].label) for code in visible],
        dossier_prefix=url_for("reviewer.dossier", reference="_").removesuffix("_"))

