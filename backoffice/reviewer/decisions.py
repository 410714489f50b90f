"""Taking, releasing and handing over dossiers; decisions on form steps."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from backoffice.auth.access import roles_required
from backoffice.db import db
from backoffice.models import PieceType, User
from backoffice.reviewer import bp
from backoffice.reviewer.access import back_to_dossier, load_dossier, run_transition
from backoffice.reviewer.forms import ActionForm, ComplementsForm, ConfierForm, RejetForm
from backoffice.workflow import assignment, forms
from backoffice.workflow.base import TransitionError
from backoffice.workflow.definitions import step_label


def _form_errors(form) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(error, "error")


@bp.post("/candidatures/<reference>/prendre")
@roles_required("verificateur")
def prendre(reference: str):
    form = ActionForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        abort(400)
    return run_transition(candidature, assignment.prendre, actor=current_user,
                          success="Le dossier vous est attribué.")


@bp.post("/candidatures/<reference>/liberer")
@roles_required("verificateur")
def liberer(reference: str):
    form = ActionForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        abort(400)
    return run_transition(candidature, assignment.liberer, actor=current_user,
                          success="Le dossier est remis dans la file.")


def _colleague(user_id: str) -> User | None:
    return db.get(User, int(user_id)) if user_id and user_id.isdigit() else None


@bp.post("/candidatures/<reference>/confier")
@roles_required("verificateur")
def confier(reference: str):
    form = ConfierForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        _form_errors(form)
        return back_to_dossier(candidature)
    colleague = _colleague(form.user_id.data)
    if colleague is None:
        flash("Collègue introuvable.", "error")
        return back_to_dossier(candidature)
    return run_transition(candidature, assignment.confier, actor=current_user, to=colleague,
                          success=f"Dossier confié à {colleague.name}.")


@bp.post("/attribuer")
@roles_required("verificateur")
def bulk_assign():
    """Assign the selected dossiers of a queue to someone (oneself included)."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    target = _colleague(request.form.get("confier_a", ""))
    references = request.form.getlist("references")
    back = request.form.get("retour") or url_for("reviewer.queue_page")
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("reviewer.queue_page")
    if target is None or not references:
        flash("Sélectionnez au moins un dossier et la personne à qui l'attribuer.", "error")
        return redirect(back)
    assign_all(references[:200], target)
    return redirect(back)


def assign_all(references: list[str], target: User) -> None:
    """Each dossier taken (target: oneself) or handed over through its transition; a
    refused one is undone alone and named, the rest commits with the request."""
    done, refused = 0, []
    for reference in references:
        candidature = load_dossier(reference, lock=True)
        try:
            with db.begin_nested():
                if target.id == current_user.id:
                    assignment.prendre(candidature, actor=current_user)
                else:
                    assignment.confier(candidature, actor=current_user, to=target)
            done += 1
        except TransitionError as error:
            refused.append(f"{reference} : {error.message}")
    if done:
        flash(f"{done} dossier(s) attribué(s) à {target.name}.", "success")
    for message in refused[:20]:
        flash(message, "error")
    if len(refused) > 20:
        flash(f"… et {len(refused) - 20} autre(s) dossier(s) refusé(s).", "error")


@bp.post("/candidatures/<reference>/<step>/valider")
@roles_required("verificateur")
def valider(reference: str, step: str):
    form = ActionForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        abort(400)
    return run_transition(candidature, forms.valider, step, actor=current_user,
                          success=f"{step_label(step)} : étape validée.")


def _compose(candidature, step: str, form: ComplementsForm) -> str:
    labels = {p.code: p.label for p in db.scalars(select(PieceType).where(
        PieceType.parcours == candidature.demarche.parcours, PieceType.step == step))}
    named = [labels.get(code, code) for code in form.pieces.data or [] if code in labels]
    text = form.message.data.strip()
    if named:
        text += "\n\nPièces concernées :\n" + "\n".join(f"- {label}" for label in named)
    return text


@bp.post("/candidatures/<reference>/<step>/demander-complements")
@roles_required("verificateur")
def demander_complements(reference: str, step: str):
    form = ComplementsForm()
    candidature = load_dossier(reference, lock=True)
    if not form.validate_on_submit():
        _form_errors(form)
        return back_to_dossier(candidature)
    return run_transition(candidature, forms.demander_complements, step, actor=current_user,
                          message=_compose(candidature, step, form),
                          success="Demande de compléments envoyée à l'industriel.")


@bp.route("/candidatures/<reference>/<step>/rejeter", methods=["GET", "POST"])
@roles_required("verificateur")
def rejeter(reference: str, step: str):
    """A confirmation page: rejecting ends the candidature."""
    form = RejetForm()
    candidature = load_dossier(reference, lock=request.method == "POST")
    if form.validate_on_submit():
        return run_transition(candidature, forms.rejeter, step, actor=current_user,
                              motif=form.motif.data, success="La candidature est rejetée.")
    status = 422 if request.method == "POST" else 200
    return render_template("reviewer/rejeter.html", candidature=candidature, step=step,
                           form=form, informative=forms.is_informative(candidature, step)), status
