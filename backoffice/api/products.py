from __future__ import annotations

import re

from flask import g
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backoffice import audit
from backoffice.api import bp
from backoffice.api.auth import industriel, token_required
from backoffice.api.errors import ApiError, not_found
from backoffice.api.idempotency import idempotent
from backoffice.api.respond import respond
from backoffice.api.serializers import evaluation_json, product_json
from backoffice.api.validation import Fields, json_object
from backoffice.db import db
from backoffice.models import Product, ProductEvaluation

QUESTIONNAIRE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def own_product(product_id: int) -> Product:
    product = db.get(Product, product_id)
    if product is None or product.organisation_id != g.organisation.id:
        raise not_found("Produit introuvable.")
    return product


@bp.post("/products")
@token_required
@idempotent
def create_product():  # noqa: ANN201
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
    for attempt in range(3):
        # The label's number is the next free one; a concurrent insert takes another.
        number = (db.scalar(select(func.max(Product.number))) or 882) + 1
        product = Product(organisation_id=g.organisation.id, number=number, **values)
        try:
            with db.begin_nested():
                db.add(product)
        except IntegrityError:
            if attempt == 2:
                raise
            continue
        break
    audit.record(industriel(), "produit.creer", product, after={"label": product.label})
    return respond(product_json(product), 201)


@bp.get("/products/<int(max=2147483647):product_id>")
@token_required
def get_product(product_id: int):  # noqa: ANN201
    return respond(product_json(own_product(product_id)), commit=False)


@bp.put("/products/<int(max=2147483647):product_id>/evaluations/<questionnaire>")
@token_required
def put_evaluation(product_id: int, questionnaire: str):  # noqa: ANN201
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
    evaluation = db.scalar(select(ProductEvaluation).where(
        ProductEvaluation.product_id == product.id,
        ProductEvaluation.questionnaire == questionnaire))
    if evaluation is None:
        evaluation = ProductEvaluation(product_id=product.id, questionnaire=questionnaire,
                                       answered=0, total=total)
        db.add(evaluation)
    evaluation.answered, evaluation.total, evaluation.score = answered, total, score
    evaluation.level, evaluation.criteria = level, criteria
    db.flush()
    audit.record(industriel(), "produit.evaluation", product,
                 after={"questionnaire": questionnaire, "score": score, "total": total})
    return respond(evaluation_json(evaluation))
