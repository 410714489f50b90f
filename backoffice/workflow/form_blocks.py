"""The blocks of a form step as the portal sends them (PUT /forms/{step}), in one place:
the API checks their types when a form is saved, the submission requires their required
fields, and the OpenAPI document describes them from here (backoffice/api/openapi.py).

A draft may be incomplete: a saved block is only checked for types (each field a string
of bounded length, an e-mail an address, a SIRET 14 digits); the required fields of the
blocks a step requires are checked when the step is submitted (`incomplete`). Fields not
listed here are kept as sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Blocks the portal's form must carry before a step can be submitted.
REQUIRED_BLOCKS: dict[str, tuple[str, ...]] = {
    "recevabilite": ("responsable_legal", "contact", "entreprise", "produit", "profils"),
    "depot": ("responsable_legal", "contact", "entreprise", "produit"),
    "eligibilite": (),
}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool = False  # at submission
    kind: str = "text"  # text, email, siret, telephone
    max_length: int = 200


@dataclass(frozen=True)
class Block:
    name: str
    label: str
    fields: tuple[Field, ...]


BLOCKS: dict[str, Block] = {b.name: b for b in (
    Block("responsable_legal", "responsable légal", (
        Field("nom", "nom", True), Field("prenom", "prénom", True),
        Field("fonction", "fonction", True),
        Field("email", "adresse électronique", kind="email", max_length=254),
        Field("telephone", "téléphone", kind="telephone", max_length=30))),
    Block("contact", "contact", (
        Field("nom", "nom", True), Field("prenom", "prénom", True),
        Field("email", "adresse électronique", True, kind="email", max_length=254),
        Field("telephone", "téléphone", kind="telephone", max_length=30),
        Field("fonction", "fonction"))),
    Block("entreprise", "entreprise", (
        Field("raison_sociale", "raison sociale", True),
        Field("siret", "SIRET", True, kind="siret", max_length=14),
        Field("adresse", "adresse", max_length=500))),
    Block("produit", "produit", (
        Field("nom", "nom", True), Field("version", "version", True, max_length=50))),
)}
# The other blocks: profils (codes of the référentiel in force, workflow/referentiels.py),
# composants (a list of objects), consentement_email (a boolean).
OTHER_BLOCKS = {"profils": "profils", "composants": "composants additionnels",
                "consentement_email": "consentement aux e-mails"}
LABELS = {**{b.name: b.label for b in BLOCKS.values()}, **OTHER_BLOCKS}
# What a page shows for a block or a field name (the dossier's form tab, the collège file):
# the same labels, capitalised; a name not defined here is shown as sent.
DISPLAY_LABELS = {name: label[:1].upper() + label[1:] for name, label in (
    *((f.name, f.label) for b in BLOCKS.values() for f in b.fields), *LABELS.items())}

SIRET = re.compile(r"^[0-9]{14}$")
TELEPHONE = re.compile(r"^\+?[0-9 .()-]{6,30}$")


def _field_error(field: Field, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return "Texte attendu."
    if len(value) > field.max_length:
        return f"{field.max_length} caractères au plus."
    if not value.strip():
        return None  # empty: only a submission needs it
    if field.kind == "siret" and not SIRET.match(value.strip()):
        return "Le SIRET compte 14 chiffres."
    if field.kind == "telephone" and not TELEPHONE.match(value.strip()):
        return "Numéro de téléphone invalide."
    if field.kind == "email":
        from email_validator import EmailNotValidError, validate_email

        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            return "Adresse invalide."
    return None


def type_errors(data: dict[str, Any]) -> dict[str, str]:
    """Field path -> French message, for what a saved form may not hold."""
    errors: dict[str, str] = {}
    for name, block in BLOCKS.items():
        if name not in data or data[name] is None:
            continue
        value = data[name]
        if not isinstance(value, dict):
            errors[name] = "Objet attendu."
            continue
        for field in block.fields:
            message = _field_error(field, value.get(field.name))
            if message:
                errors[f"{name}.{field.name}"] = message
    composants = data.get("composants")
    if composants is not None and not (isinstance(composants, list)
                                       and all(isinstance(c, dict) for c in composants)):
        errors["composants"] = "Liste d'objets attendue."
    if "consentement_email" in data and not isinstance(data["consentement_email"], bool):
        errors["consentement_email"] = "Booléen attendu."
    return errors


def missing(data: dict[str, Any], step_code: str) -> list[str]:
    """What the form of `step_code` still lacks before submission, in French."""
    out = []
    for name in REQUIRED_BLOCKS.get(step_code, ()):
        value = data.get(name)
        if not value:
            out.append(f"le bloc « {LABELS[name]} » du formulaire")
            continue
        block = BLOCKS.get(name)
        if block is None or not isinstance(value, dict):
            continue
        out += [f"le champ « {f.label} » du bloc « {block.label} »" for f in block.fields
                if f.required and not (isinstance(value.get(f.name), str)
                                       and value[f.name].strip())]
    return out
