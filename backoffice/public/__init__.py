"""Public pages, no account needed: certificate verification and the list of certified
products (design.md, Identifiers).

/verify confirms a number one holds; it is not a way to list certificates (issue 15,
finding 9): the number carries a random check part (backoffice/certificates.py), and the
lookups of unknown numbers are limited per client address with the login throttle's
counters (Redis when configured). What the public sees of a suspended or withdrawn
certificate is its status and date, never the internal motive."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy import select

from backoffice.auth.access import public
from backoffice.auth.throttle import throttle
from backoffice.certificates import BASE_NUMBER, NUMBER, base_number, normalise
from backoffice.db import db
from backoffice.models import Certificat

bp = Blueprint("public", __name__)
STATUS_LABELS = {"valide": "valide", "suspendu": "suspendu", "retire": "retiré"}
TOO_MANY = ("Trop de vérifications de numéros inconnus depuis votre adresse. Par sécurité, "
            "réessayez dans {minutes} minute{s}.")
INCOMPLETE = ("Ce numéro est incomplet : un numéro de certificat se termine par un code de "
              "contrôle de 5 caractères (par exemple ANS-DMN-2026-000123-K7QXM), imprimé sur "
              "le certificat et dans son QR code.")


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > \
        request.accept_mimetypes["text/html"]


def certificate_json(cert: Certificat, *, listed: bool = False) -> dict:
    """What anyone may know of a certificate: no motive (internal), and in the list no
    check part (the list names what is certified; /verify confirms a number one holds)."""
    return {
        "number": base_number(cert.number) if listed else cert.number,
        "genuine": True, "status": cert.status,
        "valid": cert.status == "valide",
        "kind": cert.kind, "product": cert.product_label,
        "exploitant": cert.organisation_name, "referentiel": cert.referentiel_label,
        "issued_at": cert.issued_at.isoformat(),
        "next_check_at": cert.next_check_at.isoformat() if cert.next_check_at else None,
        "numero_referencement": cert.numero_referencement,
        "status_changed_at": cert.status_changed_at.isoformat()
        if cert.status_changed_at else None,
    }


def _limits() -> tuple[int, int]:
    config = current_app.config
    return (int(config.get("VERIFY_MAX_FAILURES_ADDRESS", 20)),
            int(config.get("VERIFY_THROTTLE_SECONDS", 3600)))


def _too_many(seconds: int):
    minutes = max(1, -(-seconds // 60))
    message = TOO_MANY.format(minutes=minutes, s="s" if minutes > 1 else "")
    if _wants_json():
        response = jsonify(code="trop_de_requetes", message=message)
    else:
        response = current_app.make_response((render_template(
            "public/too_many.html", message=message), 429))
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/verify/<number>")
@public
def verify(number: str):
    # An attempt is reserved before the lookup (parallel guesses cannot all slip under the
    # limit) and given back when the number is genuine: only unknown numbers count.
    limit, window = _limits()
    counters = throttle().counters
    key = f"backoffice:verify:address:{request.remote_addr or '-'}"
    wait = counters.reserve([(key, limit)], window)
    if wait:
        return _too_many(wait)
    typed = normalise(number)
    cert = db.scalar(select(Certificat).where(Certificat.number == typed,
                                              Certificat.fichier_id.is_not(None))) \
        if NUMBER.match(typed) else None
    if cert is not None:
        counters.call("give_back", key)
    incomplete = cert is None and bool(BASE_NUMBER.match(typed))
    if _wants_json():
        if cert is None:
            return jsonify(number=number, genuine=False,
                           code="incomplete_number" if incomplete else "unknown_certificate",
                           message=INCOMPLETE if incomplete
                           else "Aucun certificat ne porte ce numéro."), 404
        return jsonify(certificate_json(cert))
    if cert is None:
        return render_template("public/verify.html", number=number, cert=None,
                               incomplete=INCOMPLETE if incomplete else None), 404
    return render_template("public/verify.html", number=cert.number, cert=cert,
                           status_label=STATUS_LABELS[cert.status])


@bp.route("/certificats")
@public
def certified_products():
    rows = db.scalars(select(Certificat).where(Certificat.fichier_id.is_not(None))
                      .order_by(Certificat.issued_at.desc()).limit(1000)).all()
    if _wants_json():
        return jsonify(items=[certificate_json(c, listed=True) for c in rows])
    return render_template("public/list.html", rows=rows, labels=STATUS_LABELS,
                           base_number=base_number)
