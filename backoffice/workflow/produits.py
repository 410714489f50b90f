"""The vendor's products: created through the API (each gets the next free label number)
and their self-assessments (questionnaires answered on the portal)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backoffice import audit
from backoffice.db import db
from backoffice.models import Product, ProductEvaluation
from backoffice.workflow.base import Actor, Industriel, InvalidInput, NotAllowed, ensure_allowed

FIRST_NUMBER = 883  # the numbering the portal started with


def can_creer(actor: Actor) -> bool:
    return isinstance(actor, Industriel)


def creer(*, actor: Actor, values: dict[str, Any]) -> Product:
    """A new product of the vendor's organisation, numbered after the highest one."""
    if not isinstance(actor, Industriel):  # can_creer, spelled so that types follow
        raise NotAllowed("not_allowed", "Seul l'industriel crée ses produits.")
    for attempt in range(3):
        # The label's number is the next free one; a concurrent insert takes another.
        number = (db.scalar(select(func.max(Product.number))) or FIRST_NUMBER - 1) + 1
        product = Product(organisation_id=actor.organisation.id, number=number, **values)
        try:
            with db.begin_nested():
                db.add(product)
        except IntegrityError:
            if attempt == 2:
                raise
            continue
        break
    audit.record(actor, "produit.creer", product, after={"label": product.label})
    return product


def evaluer(product: Product, questionnaire: str, *, actor: Actor, total: int | None,
            answered: int | None, score: int | None, level: str | None,
            criteria: Any) -> ProductEvaluation:
    """Record (replace) the product's answers to one self-assessment questionnaire."""
    ensure_allowed(isinstance(actor, Industriel)
                   and actor.organisation.id == product.organisation_id)
    if total is None or answered is None:  # the API requires both (NOT NULL columns)
        raise InvalidInput("validation_error", "total et answered sont obligatoires.")
    if answered > total or (score or 0) > total:
        raise InvalidInput("validation_error", "answered et score ne peuvent dépasser total.")
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
    audit.record(actor, "produit.evaluation", product,
                 after={"questionnaire": questionnaire, "score": score, "total": total})
    return evaluation
