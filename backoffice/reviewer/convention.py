"""The convention panel: send for signature (Yousign, through a job), record a signature
by hand with the signed PDF, validate."""

from __future__ import annotations

from flask import abort, flash
from flask_login import current_user

from backoffice import uploads
from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.reviewer import bp
from backoffice.reviewer.access import back_to_dossier, load_dossier, run_transition
from backoffice.reviewer.forms import ActionForm, EnvoiConventionForm, SignatureManuelleForm
from backoffice.storage import StorageError
from backoffice.workflow import convention


@bp.post("/candidatures/<reference>/convention/envoyer")
@roles_required("verificateur")
def convention_envoyer(reference: str):
    """Queue the Yousign request (jobs/conventions.envoyer, after the commit), or record
    the id of one made by hand in Yousign."""
    form = EnvoiConventionForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        abort(400)
    return run_transition(candidature, convention.envoyer, actor=current_user,
                          signature_request_id=(form.signature_request_id.data or "").strip(),
                          success="La convention est envoyée pour signature.")


@bp.post("/candidatures/<reference>/convention/signature")
@uploads.accepts_upload("convention")
@roles_required("verificateur")
def convention_signature(reference: str):
    form = SignatureManuelleForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return back_to_dossier(candidature)
    try:
        fichier = uploads.store(candidature, form.fichier.data, "convention",
                                uploaded_by_user_id=current_user.id)
    except StorageError as error:
        db.rollback()
        flash(error.message, "error")
        return back_to_dossier(candidature)
    return run_transition(candidature, convention.marquer_signee, actor=current_user,
                          signed_file=fichier, success="La signature est enregistrée.")


@bp.post("/candidatures/<reference>/convention/valider")
@roles_required("verificateur")
def convention_valider(reference: str):
    form = ActionForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        abort(400)
    return run_transition(candidature, convention.valider, actor=current_user,
                          success="La convention est validée : le dépôt des preuves est ouvert.")


@bp.post("/candidatures/<reference>/emission/relancer")
@roles_required("verificateur")
def emission_relancer(reference: str):
    """After an issuance failure: queue it again."""
    from backoffice.workflow import emission

    form = ActionForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        abort(400)
    return run_transition(candidature, emission.relancer, actor=current_user,
                          success="L'émission est relancée.")
