"""The convention panel: send for signature (Yousign), record a signature by hand with
the signed PDF, validate."""

from __future__ import annotations

from flask import abort, flash
from flask_login import current_user
from sqlalchemy import select

from backoffice import uploads, yousign
from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.demo_files import one_page_pdf
from backoffice.models import StepForm
from backoffice.reviewer import bp
from backoffice.reviewer.access import back_to_dossier, load_dossier, run_transition
from backoffice.reviewer.forms import ActionForm, EnvoiConventionForm, SignatureManuelleForm
from backoffice.storage import StorageError
from backoffice.workflow import convention


def _signer(candidature) -> yousign.Signer | None:  # noqa: ANN001
    forms = db.scalars(select(StepForm).where(StepForm.candidature_id == candidature.id))
    for form in forms:
        legal = form.data.get("responsable_legal") or {}
        contact = form.data.get("contact") or {}
        email = legal.get("email") or contact.get("email")
        if email:
            return yousign.Signer(legal.get("prenom") or contact.get("prenom") or "",
                                  legal.get("nom") or contact.get("nom") or "", email)
    if candidature.contact_email:
        return yousign.Signer("", candidature.organisation.name, candidature.contact_email)
    return None


@bp.post("/candidatures/<reference>/convention/envoyer")
@roles_required("verificateur")
def convention_envoyer(reference: str):
    form = EnvoiConventionForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        abort(400)
    request_id = (form.signature_request_id.data or "").strip()
    if not request_id:
        if not yousign.configured():
            flash("Yousign n'est pas configuré : saisissez l'identifiant de la demande de "
                  "signature créée dans Yousign.", "error")
            return back_to_dossier(candidature)
        signer = _signer(candidature)
        if signer is None:
            flash("Aucun signataire connu : le formulaire ne donne pas d'adresse électronique.",
                  "error")
            return back_to_dossier(candidature)
        document = one_page_pdf(f"Convention — candidature {candidature.reference}",
                                f"{candidature.organisation.name} — {candidature.product.label}")
        try:
            request_id = yousign.create_signature_request(
                f"Convention {candidature.reference}", document,
                f"convention-{candidature.reference}.pdf", signer)
        except yousign.YousignError as error:
            db.rollback()
            flash(f"{error} La convention n'a pas été envoyée.", "error")
            return back_to_dossier(candidature)
    return run_transition(candidature, convention.envoyer, actor=current_user,
                          signature_request_id=request_id,
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
