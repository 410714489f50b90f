"""Loading a dossier for the current vérificateur: another parcours' dossier does not
exist for them (404), whatever the URL or the form they craft."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from backoffice.db import db
from backoffice.models import Candidature, CandidatureStep, User
from backoffice.queues.candidatures import visible_demarches
from backoffice.workflow.base import TransitionError, load_for_update


def load_dossier(reference: str, *, lock: bool = False) -> Candidature:
    if lock:
        candidature = load_for_update(reference)
    else:
        candidature = db.scalars(
            select(Candidature).where(Candidature.reference == reference)
            # the steps' assignees with their roles and teams in the same query: a colleague's
            # dossier shows its holder's name (3 lazy loads otherwise: issue 19)
            .options(joinedload(Candidature.steps).joinedload(CandidatureStep.assignee)
                     .options(joinedload(User.role_rows), joinedload(User.teams)),
                     joinedload(Candidature.product),
                     joinedload(Candidature.organisation), joinedload(Candidature.demarche))
        ).unique().first()
    if candidature is None or candidature.demarche_code not in visible_demarches(current_user):
        abort(404)
    return candidature


def back_to_dossier(candidature: Candidature, tab: str | None = None):
    target = request.form.get("retour")
    if target and target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("reviewer.dossier", reference=candidature.reference, onglet=tab))


def run_transition(candidature: Candidature, action, *args, success: str, tab=None,
                   **kwargs):
    """Call one transition and say how it went in French (the request commits once)."""
    from sqlalchemy.exc import IntegrityError, OperationalError
    from sqlalchemy.orm.exc import StaleDataError

    try:
        action(candidature, *args, **kwargs)
        db.flush()  # a concurrent change or a constraint shows here, not at the commit
    except TransitionError as error:
        db.rollback()
        flash(error.message, "error")
    except (StaleDataError, IntegrityError, OperationalError):
        # A concurrent change won (version check, constraint, SQLite's lock).
        logging.getLogger(__name__).info("conflict on %s", candidature.reference, exc_info=True)
        db.rollback()
        flash("Quelqu'un vient de modifier ce dossier : rechargez la page et recommencez.",
              "error")
    else:
        flash(success, "success")
    return back_to_dossier(candidature, tab)
