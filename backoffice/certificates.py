"""Issuing a certificate: the number, the PDF with the mentions the Code de la santé
publique asks for, a QR code to the public verification page, the PAdES signature.

A certificate number is readable and unique — `ANS-DMN-2026-000123-K7QXM`: a prefix, the
year, the row's id, and a random check part. The check part is what makes the public
page confirm a number one holds without letting anyone walk the numbers one by one
(issue 15, finding 9: 6 genuine certificates found in 80 guesses before). It is printed
on the PDF and in its QR code; /verify needs the whole number. The public list of
certified products shows the number without it (`base_number`)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from backoffice import pdf, signing
from backoffice.db import db, utcnow
from backoffice.demo_files import store_bytes
from backoffice.filters import date_fr
from backoffice.models import Candidature, Certificat, Referentiel
from backoffice.workflow.definitions import DEMARCHES

VALIDITY = timedelta(days=3 * 365)  # next check of a DMN certificate (configurable later)
CHECK_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed back
CHECK_LENGTH = 5  # 31^5 ≈ 28.6 million possibilities per number
NUMBER = re.compile(rf"^ANS-(DMN|SAS)-\d{{4}}-\d{{6,}}-[{CHECK_ALPHABET}]{{{CHECK_LENGTH}}}$")
BASE_NUMBER = re.compile(r"^ANS-(DMN|SAS)-\d{4}-\d{6,}$")


def check_part() -> str:
    return "".join(secrets.choice(CHECK_ALPHABET) for _ in range(CHECK_LENGTH))


def base_number(number: str) -> str:
    """The number without its check part (the public list shows this much)."""
    return number.rsplit("-", 1)[0] if NUMBER.match(number) else number


def normalise(number: str) -> str:
    """As a person may type it: surrounding spaces, lower case."""
    return number.strip().upper()


def verify_url(number: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/verify/{number}"


def reserve(candidature: Candidature, kind: str) -> Certificat:
    """The certificate row, created once (unique candidature_id); its number comes from its
    id and a random check part: ANS-DMN-2026-000123-K7QXM / ANS-SAS-2026-000007-3HWPA."""
    existing = db.scalar(select(Certificat).where(Certificat.candidature_id == candidature.id))
    if existing is not None:
        return existing
    referentiel = db.get(Referentiel, candidature.referentiel_id) \
        if candidature.referentiel_id else None
    now = utcnow()
    row = Certificat(
        candidature_id=candidature.id, kind=kind, number=f"pending-{uuid.uuid4().hex}",
        product_label=candidature.product.label, organisation_name=candidature.organisation.name,
        referentiel_label=f"{referentiel.label} — version {referentiel.version}"
        if referentiel else "—",
        issued_at=now, next_check_at=now + VALIDITY if kind == "certificat" else None,
    )
    db.add(row)
    db.flush()
    prefix = "DMN" if kind == "certificat" else "SAS"
    row.number = f"ANS-{prefix}-{now.year}-{row.id:06d}-{check_part()}"
    if kind == "referencement":
        row.numero_referencement = current_app.config["REFERENCEMENT_FORMAT"].format(
            year=now.year, id=row.id)
    db.flush()
    return row


def render(candidature: Candidature, cert: Certificat) -> bytes:
    page = pdf.Page()
    page.rect(0, 800, 595, 42, (0, 0, 0.569))
    page.text(40, 815, "RÉPUBLIQUE FRANÇAISE — Agence du Numérique en Santé", 12, bold=True)
    page.ops[-1] = page.ops[-1].replace(b"0 0 0 rg", b"1 1 1 rg")
    dmn = cert.kind == "certificat"
    page.text(40, 750, "Certificat de conformité" if dmn else
              "Attestation de conformité — référencement SONS SAS", 22, bold=True)
    page.text(40, 725, f"N° {cert.number}", 14, bold=True)
    product = candidature.product
    y = 690.0
    lines = [
        ("Produit", product.name), ("Version", product.version),
        ("Référence produit", product.label),
        ("Exploitant", candidature.organisation.name),
        ("Contact de l'exploitant", candidature.contact_email
         or candidature.organisation.contact_email or "—"),
        ("Démarche", DEMARCHES[candidature.demarche_code].label),
        ("Référentiel", cert.referentiel_label),
        ("Profils", ", ".join(candidature.profils) or "—"),
        ("Organisme certificateur", "Agence du Numérique en Santé (ANS)"),
        ("Date de délivrance", date_fr(cert.issued_at)),
    ]
    if cert.next_check_at:
        lines.append(("Prochain contrôle", date_fr(cert.next_check_at)))
    if cert.numero_referencement:
        lines.append(("Numéro unique de référencement", cert.numero_referencement))
    import textwrap

    for label, value in lines:
        page.text(40, y, f"{label} :", 11, bold=True)
        for part in textwrap.wrap(str(value), 58) or [""]:
            page.text(230, y, part, 11)
            y -= 15
        y -= 5
    y -= 10
    mention = ("Certificat délivré en application des articles R.1470-1 et suivants du Code de "
               "la santé publique, après décision favorable du collège de certification."
               if dmn else "Attestation délivrée après vérification de la conformité au "
               "référentiel du Service d'accès aux soins (Ségur du numérique en santé).")
    y = page.wrapped(40, y, mention, 10, width=100, leading=14)
    url = verify_url(cert.number)
    page.qr(40, 90, 110, url)
    page.text(165, 180, "Vérifier l'authenticité et la validité de ce document :", 10, bold=True)
    page.text(165, 164, url, 9)
    page.text(165, 140, "Document signé électroniquement par l'Agence du Numérique en Santé.",
              9, grey=True)
    return pdf.build([page], title=f"{cert.number} — {product.label}")


def issue(candidature: Candidature, kind: str) -> Certificat:
    """Reserve, render, sign, store. Safe to call again: an issued certificate is kept."""
    cert = reserve(candidature, kind)
    if cert.fichier_id is not None:
        return cert
    signed = signing.sign_pdf(render(candidature, cert),
                              reason=f"Délivrance du {cert.number}")
    cert.fichier = store_bytes(candidature, f"{cert.number}.pdf", signed)
    cert.sha256 = hashlib.sha256(signed).hexdigest()
    db.flush()
    return cert
