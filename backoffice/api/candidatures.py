from __future__ import annotations

import base64
import binascii

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backoffice.api import bp
from backoffice.api.auth import industriel, token_required
from backoffice.api.errors import ApiError, not_found
from backoffice.api.idempotency import idempotent
from backoffice.api.products import own_product
from backoffice.api.respond import respond
from backoffice.api.serializers import candidature_json, candidature_summary
from backoffice.api.validation import Fields, json_object
from backoffice.db import db
from backoffice.models import Candidature
from backoffice.workflow import candidatures, form_blocks, forms
from backoffice.workflow.base import load_for_update
from backoffice.workflow.definitions import DEMARCHES

MAX_FORM_BYTES = 256 * 1024


def own_candidature(reference: str, *, lock: bool = False) -> Candidature:
    """The organisation's candidature (404 for anyone else's), row-locked for changes."""
    if lock:
        candidature = load_for_update(reference, organisation_id=g.organisation.id)
    else:
        candidature = db.scalar(select(Candidature).where(
            Candidature.reference == reference,
            Candidature.organisation_id == g.organisation.id))
    if candidature is None:
        raise not_found("Candidature introuvable.")
    return candidature


def _cursor(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(base64.urlsafe_b64decode(value.encode()).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_cursor", "Curseur de pagination invalide.") from exc


def paging() -> tuple[int, int | None]:
    """?limit=50&after=<cursor> of a list paged by key, newest first (limit 1 to 200)."""
    try:
        limit = min(max(int(request.args.get("limit", 50)), 1), 200)
    except ValueError as exc:
        raise ApiError(422, "invalid_limit", "limit doit être un entier.") from exc
    return limit, _cursor(request.args.get("after"))


def next_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode()


@bp.get("/candidatures")
@token_required
def list_candidatures():
    """Keyset paging, newest first: ?limit=50&after=<cursor>."""
    limit, after = paging()
    stmt = (select(Candidature).where(Candidature.organisation_id == g.organisation.id)
            .options(selectinload(Candidature.steps), selectinload(Candidature.product))
            .order_by(Candidature.id.desc()).limit(limit + 1))
    if after is not None:
        stmt = stmt.where(Candidature.id < after)
    rows = db.scalars(stmt).all()
    items, more = rows[:limit], len(rows) > limit
    cursor = next_cursor(items[-1].id) if more else None
    return respond({"items": [candidature_summary(c) for c in items], "next": cursor},
                   commit=False)


@bp.post("/candidatures")
@token_required
@idempotent
def create_candidature():
    f = Fields(json_object())
    product_id = f.integer("product_id", minimum=1, maximum=2**31 - 1)
    demarche = f.choice("demarche", tuple(DEMARCHES))
    f.done()
    product = own_product(product_id)
    candidature = candidatures.ouvrir(product, demarche, actor=industriel())
    return respond(candidature_json(candidature), 201)


@bp.get("/candidatures/<reference>")
@token_required
def get_candidature(reference: str):
    return respond(candidature_json(own_candidature(reference)), commit=False)


@bp.put("/candidatures/<reference>/forms/<step>")
@token_required
def put_form(reference: str, step: str):
    if request.content_length and request.content_length > MAX_FORM_BYTES:
        raise ApiError(413, "form_too_large", "Le formulaire dépasse 256 Ko.")
    data = json_object()
    errors = form_blocks.type_errors(data)
    if errors:
        raise ApiError(422, "validation_error", "Certains champs du formulaire sont invalides.",
                       fields=errors)
    candidature = own_candidature(reference, lock=True)
    form = forms.enregistrer_formulaire(candidature, step, data, actor=industriel())
    return respond({"step": form.step, "data": form.data})


@bp.post("/candidatures/<reference>/steps/<step>/submit")
@token_required
@idempotent
def submit_step(reference: str, step: str):
    candidature = own_candidature(reference, lock=True)
    forms.soumettre(candidature, step, actor=industriel())
    return respond(candidature_json(candidature))


@bp.post("/candidatures/<reference>/abandon")
@token_required
@idempotent
def abandon(reference: str):
    candidature = own_candidature(reference, lock=True)
    candidatures.abandonner(candidature, actor=industriel())
    return respond(candidature_json(candidature))
