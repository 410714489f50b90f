from __future__ import annotations

import re

from flask import g

from backoffice.api import bp
from backoffice.api.auth import industriel, token_required
from backoffice.api.errors import ApiError, not_found
from backoffice.api.idempotency import idempotent
from backoffice.api.respond import respond
from backoffice.api.serializers import evaluation_json, product_json
from backoffice.api.validation import Fields, json_object
from backoffice.db import db
from backoffice.models import Product
from backoffice.workflow import produits

QUESTIONNAIRE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def own_product(product_id: int) -> Product:
    product = db.get(Product, product_id)
    if product is None or product.organisation_id != g.organisation.id:
        raise not_found("Produit introuvable.")
    return product


@bp.post("/products")
@token_required
@idempotent
def create_product():
    f = Fields(json_object())
    values = {
        "name": f.text("name"), "version": f.text("version", max_length=50),
        "type": f.choice("type", ("socle", "option")),
        "nil": f.text("nil", required=False, max_length=50),
        "responsable": f.text("responsable"),
        "description": f.text("description", required=False, max_length=5000, default="",
                              multiline=True),
        "certifications": f.string_list("certifications"),
        "qualification": f.obj("qualification"),
    }
    f.done()
    product = produits.creer(actor=industriel(), values=values)
    return respond(product_json(product), 201)


@bp.get("/products/<int(max=2147483647):product_id>")
@token_required
def get_product(product_id: int):
    return respond(product_json(own_product(product_id)), commit=False)


@bp.put("/products/<int(max=2147483647):product_id>/evaluations/<questionnaire>")
@token_required
def put_evaluation(product_id: int, questionnaire: str):
    product = own_product(product_id)
    if not QUESTIONNAIRE.match(questionnaire):
        raise ApiError(404, "not_found", "Questionnaire inconnu.")
    f = Fields(json_object())
    total = f.integer("total", minimum=1, maximum=1000)
    answered = f.integer("answered", maximum=1000)
    score = f.integer("score", required=False, maximum=1000)
    level = f.text("level", required=False)
    criteria = f.obj("criteria")
    f.done()
    if total is not None and ((answered or 0) > total or (score or 0) > total):
        raise ApiError(422, "validation_error", "answered et score ne peuvent dépasser total.",
                       fields={"answered": "Au plus total."})
    evaluation = produits.evaluer(product, questionnaire, actor=industriel(), total=total,
                                  answered=answered, score=score, level=level,
                                  criteria=criteria)
    return respond(evaluation_json(evaluation))
