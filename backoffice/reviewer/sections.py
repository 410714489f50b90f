"""Evidence review: the section queue and the section review page (verdicts saved as the
vérificateur goes, rounds and their file diffs, validation or modifications)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, render_template, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.models import CandidatureExigence, Fichier, Preuve, SectionReview
from backoffice.queues import sections as section_queue
from backoffice.queues.candidatures import InvalidCursor, visible_demarches
from backoffice.reviewer import bp
from backoffice.reviewer.access import load_dossier, run_transition
from backoffice.reviewer.forms import ActionForm
from backoffice.workflow import preuves, section_verdicts
from backoffice.workflow.definitions import DEMARCHES


@bp.route("/sections")
@roles_required("verificateur")
def section_queue_page():
    filters = section_queue.SectionFilters.from_args(request.args)
    try:
        rows, cursor = section_queue.page(current_user, filters,
                                          after=request.args.get("apres"))
    except InvalidCursor:
        abort(400)
    demarches = [(c, DEMARCHES[c].label) for c in visible_demarches(current_user)]
    return render_template("reviewer/section_queue.html", rows=rows, filters=filters,
                           next_cursor=cursor, demarches=demarches,
                           first_page=not request.args.get("apres"))


def load_section(candidature, code: str) -> SectionReview:
    section = db.scalar(
        select(SectionReview).where(SectionReview.candidature_id == candidature.id,
                                    SectionReview.code == code)
        .options(selectinload(SectionReview.exigences)
                 .selectinload(CandidatureExigence.verdicts)))
    if section is None:
        abort(404)
    return section


def review_context(candidature, section: SectionReview) -> dict:
    """Everything the page shows, in a fixed number of queries."""
    rows = db.execute(
        select(Preuve, Fichier).join(Fichier, Fichier.id == Preuve.fichier_id)
        .where(Preuve.exigence_id.in_([e.id for e in section.exigences]),
               Fichier.deleted_at.is_(None))  # deleted by support: gone from review
        .order_by(Preuve.round_added, Preuve.id)).all()
    files: dict[int, list[tuple[Preuve, Fichier]]] = {}
    for preuve, fichier in rows:
        files.setdefault(preuve.exigence_id, []).append((preuve, fichier))
    items: list[dict[str, Any]] = []
    for exigence in section.exigences:
        verdicts = {v.round: v for v in exigence.verdicts}
        current = verdicts.get(section.round)
        earlier = preuves.effective_verdict(exigence, section.round - 1) \
            if section.round > 1 else None
        changed = any(p.round_added == section.round or p.archived_round == section.round
                      for p, _ in files.get(exigence.id, []))
        items.append({
            "exigence": exigence, "files": files.get(exigence.id, []),
            "verdicts": verdicts, "current": current, "earlier": earlier,
            # already conforme, nothing new: the re-review can pass over it (collapsed)
            "settled": section_verdicts.is_settled(exigence, section.round, changed),
            "changed": changed,
        })
    pending = [i["exigence"].code for i in items
               if (v := preuves.effective_verdict(i["exigence"], section.round)) is None
               or v.verdict not in preuves.ACCEPTED]
    return {"items": items, "pending": pending,
            "rounds": list(range(1, section.round + 1)),
            # whoever else may review it must first take it: « Commencer la revue »
            "can_review": preuves.can_juger(current_user, candidature, section)
            and section.assignee_id == current_user.id,
            "message": preuves.compose_modifications_message(section)}


@bp.route("/candidatures/<reference>/sections/<code>")
@roles_required("verificateur")
def section_review(reference: str, code: str):
    candidature = load_dossier(reference)
    section = load_section(candidature, code)
    return render_template("reviewer/section.html", candidature=candidature, section=section,
                           **review_context(candidature, section))


def _back(candidature, code: str, anchor: str = ""):
    from flask import redirect, url_for

    return redirect(url_for("reviewer.section_review", reference=candidature.reference,
                            code=code) + anchor)


@bp.post("/candidatures/<reference>/sections/<code>/commencer")
@roles_required("verificateur")
def section_start(reference: str, code: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    candidature = load_dossier(reference, lock=True)
    run_transition(candidature, preuves.commencer_revue, code, actor=current_user,
                   success=f"Revue de la section {code} commencée.")
    return _back(candidature, code)


@bp.post("/candidatures/<reference>/sections/<code>/exigences/<path:exigence>/verdict")
@roles_required("verificateur")
def section_verdict(reference: str, code: str, exigence: str):
    """Saved at once: a review takes hours and survives a closed tab."""
    if not ActionForm().validate_on_submit():
        abort(400)
    candidature = load_dossier(reference, lock=True)
    verdict = request.form.get("verdict", "")
    anchor = f"#exigence-{request.form.get('position', '')}"
    run_transition(candidature, preuves.juger_exigence, code, exigence, actor=current_user,
                   verdict=verdict, comment=request.form.get("comment"),
                   success=f"{exigence} : verdict enregistré.")
    return _back(candidature, code, anchor)


@bp.post("/candidatures/<reference>/sections/<code>/valider")
@roles_required("verificateur")
def section_validate(reference: str, code: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    candidature = load_dossier(reference, lock=True)
    run_transition(candidature, preuves.valider_section, code, actor=current_user,
                   success=f"Section {code} validée.")
    return _back(candidature, code)


@bp.post("/candidatures/<reference>/sections/<code>/demander-modifications")
@roles_required("verificateur")
def section_modifications(reference: str, code: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    candidature = load_dossier(reference, lock=True)
    message = (request.form.get("message") or "").strip()
    if len(message) > 20_000:
        flash("Le message est trop long (20 000 caractères au plus).", "error")
        return _back(candidature, code)
    run_transition(candidature, preuves.demander_modifications, code, actor=current_user,
                   message=message or None,
                   success=f"Modifications demandées sur la section {code}.")
    return _back(candidature, code)
