"""Public pages, no account needed: certificate verification and the list of certified
products (design.md, Identifiers)."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import select

from backoffice.auth.access import public
from backoffice.db import db
from backoffice.models import Certificat

bp = Blueprint("public", __name__)
NUMBER = re.compile(r"^ANS-(DMN|SAS)-\d{4}-\d{6}$")
STATUS_LABELS = {"valide": "valide", "suspendu": "suspendu", "retire": "retiré"}


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > \
        request.accept_mimetypes["text/html"]


def certificate_json(cert: Certificat) -> dict:
    return {
        "number": cert.number, "genuine": True, "status": cert.status,
        "valid": cert.status == "valide",
        "kind": cert.kind, "product": cert.product_label,
        "exploitant": cert.organisation_name, "referentiel": cert.referentiel_label,
        "issued_at": cert.issued_at.isoformat(),
        "next_check_at": cert.next_check_at.isoformat() if cert.next_check_at else None,
        "numero_referencement": cert.numero_referencement,
        "status_motive": cert.status_motive if cert.status != "valide" else None,
        "status_changed_at": cert.status_changed_at.isoformat()
        if cert.status_changed_at else None,
    }


@bp.route("/verify/<number>")
@public
def verify(number: str):
    cert = db.scalar(select(Certificat).where(Certificat.number == number,
                                              Certificat.fichier_id.is_not(None))) \
        if NUMBER.match(number) else None
    if _wants_json():
        if cert is None:
            return jsonify(number=number, genuine=False, code="unknown_certificate",
                           message="Aucun certificat ne porte ce numéro."), 404
        return jsonify(certificate_json(cert))
    if cert is None:
        return render_template("public/verify.html", number=number, cert=None), 404
    return render_template("public/verify.html", number=number, cert=cert,
                           status_label=STATUS_LABELS[cert.status])


@bp.route("/certificats")
@public
def certified_products():
    rows = db.scalars(select(Certificat).where(Certificat.fichier_id.is_not(None))
                      .order_by(Certificat.issued_at.desc()).limit(1000)).all()
    if _wants_json():
        return jsonify(items=[certificate_json(c) for c in rows])
    return render_template("public/list.html", rows=rows, labels=STATUS_LABELS)

