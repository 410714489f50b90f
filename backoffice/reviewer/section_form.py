"""The section review form (issue 18, item 5): every verdict of a section in one POST.
Without JavaScript the whole form is posted and the page comes back; with it,
static/js/section_review.js posts the same form as the vérificateur goes and reads JSON
(each refusal with a stable `code`). Refused verdicts come back next to their exigence,
what was typed kept; the valid ones are saved in the same transaction."""

from __future__ import annotations

import logging

from flask import abort, flash, jsonify, render_template, request
from flask_login import current_user
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.reviewer import bp
from backoffice.reviewer.access import load_dossier
from backoffice.reviewer.forms import ActionForm
from backoffice.reviewer.sections import _back, load_section, review_context
from backoffice.workflow import preuves
from backoffice.workflow.base import TransitionError
from backoffice.workflow.section_verdicts import juger_section

log = logging.getLogger(__name__)
VERDICT_LABELS = {"conforme": "Conforme", "non_conforme": "Non conforme",
                  "non_applicable": "Non applicable"}
CONFLICT = ("Quelqu'un vient d'enregistrer des verdicts sur cette section en même temps : "
            "rechargez la page pour voir les derniers enregistrés.")


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _refuse(status: int, code: str, message: str):
    db.rollback()
    if _wants_json():
        return jsonify(code=code, message=message), status
    if status == 403:
        abort(403)
    flash(message, "error")
    return None


@bp.post("/candidatures/<reference>/sections/<code>/verdicts")
@roles_required("verificateur")
def section_verdicts(reference: str, code: str):
    """Every verdict of the form: typed ones saved, « tout conforme » for the rest."""
    if not ActionForm().validate_on_submit():
        abort(400)
    candidature = load_dossier(reference, lock=True)
    section = load_section(candidature, code)
    if not preuves.can_juger(current_user, candidature, section, check_state=False):
        return _refuse(403, "not_allowed", "Seul le vérificateur chargé de cette section "
                                           "peut la juger.")
    typed = {e.code: (request.form.get(f"verdict-{e.id}", ""),
                      request.form.get(f"comment-{e.id}", "")) for e in section.exigences}
    try:
        result = juger_section(candidature, code, actor=current_user, typed=typed,
                               tout_conforme=bool(request.form.get("tout_conforme")))
        db.flush()  # a concurrent change shows here, not at the commit
    except TransitionError as error:
        return _refuse(error.http_status, error.code, error.message) or _back(candidature, code)
    except (StaleDataError, IntegrityError, OperationalError):
        log.info("concurrent verdicts on %s %s", reference, code, exc_info=True)
        return _refuse(409, "conflict", CONFLICT) or _back(candidature, code)
    if _wants_json():
        return jsonify(_summary(candidature, section, result))
    if result.errors:
        # the page again, with each refusal next to its exigence and what was typed
        return render_template("reviewer/section.html", candidature=candidature,
                               section=section, typed=typed, errors=result.errors,
                               first_error=next(iter(result.errors)),
                               **review_context(candidature, section))
    flash(f"{len(result.saved)} verdict(s) enregistré(s)." if result.saved
          else "Aucun verdict nouveau à enregistrer.", "success")
    return _back(candidature, code)


def _summary(candidature, section, result) -> dict:
    """What the script updates without a reload: badges, errors, the decision panel."""
    context = review_context(candidature, section)
    return {
        "ok": not result.errors,
        "saved": result.saved,
        "errors": [{"exigence": code, "code": error.code, "message": error.message}
                   for code, error in result.errors.items()],
        "verdicts": {item["exigence"].code: item["current"].verdict
                     for item in context["items"] if item["current"]},
        "pending": context["pending"],
        "message": context["message"],
    }
