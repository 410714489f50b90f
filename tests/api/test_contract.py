"""The API's contract is complete: every error code the code can answer is published (OpenAPI
document and docs/api.md), and the form blocks' schemas say what the validators require."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from backoffice.api.error_codes import BACKOFFICE_ONLY, ERROR_CODES
from backoffice.api.errors import HTTP_CODES
from backoffice.db import db
from backoffice.models import Candidature, Referentiel, StepForm
from backoffice.workflow import forms
from backoffice.workflow.scenarios import FORM_DATA

ROOT = Path(__file__).resolve().parents[2]
RAISED = re.compile(r'\b(?:ApiError|InvalidInput|TransitionError|NotAllowed|WindowClosed)\(\s*'
                    r'(?:(\d{3})\s*,\s*)?"([a-z_]+)"')
CLASS_CODE = re.compile(r'^\s+code = "([a-z_]+)"', re.M)
CONSTANT = re.compile(r'^[A-Z_]+ = "([a-z_]+)"$', re.M)


def raised_codes() -> dict[str, set[int | None]]:
    """code -> the statuses it is raised with (None: the exception class's own)."""
    found: dict[str, set[int | None]] = {}
    for folder in ("api", "workflow", "storage"):
        for path in (ROOT / "backoffice" / folder).rglob("*.py"):
            text = path.read_text()
            for status, code in RAISED.findall(text):
                found.setdefault(code, set()).add(int(status) if status else None)
            for code in CLASS_CODE.findall(text):
                found.setdefault(code, set()).add(None)
    for code in CONSTANT.findall((ROOT / "backoffice/api/validation.py").read_text()):
        found.setdefault(code, set()).add(422)
    for status, (code, _message) in HTTP_CODES.items():
        found.setdefault(code, set()).add(status)
    return found


def test_every_error_code_is_in_the_openapi_document_and_the_docs(client) -> None:
    found = raised_codes()
    assert {"incomplete_section", "invalid_profils", "unknown_event", "storage_error",
            "invalid_characters", "bad_request"} <= set(found)  # the scan sees them all
    undocumented = set(found) - set(ERROR_CODES) - BACKOFFICE_ONLY
    assert not undocumented, f"codes neither in ERROR_CODES nor BACKOFFICE_ONLY: {undocumented}"
    assert not BACKOFFICE_ONLY - set(found), "BACKOFFICE_ONLY names codes nobody raises"
    assert not BACKOFFICE_ONLY & set(ERROR_CODES)
    for code, statuses in found.items():
        if code in ERROR_CODES:
            assert statuses - {None} <= {ERROR_CODES[code][0]}, (code, statuses)
    published = {e["code"]: e["status"] for e in
                 client.get("/api/v1/openapi.json").json["components"]["schemas"]["Error"][
                     "x-error-codes"]}
    assert published == {code: status for code, (status, _d) in ERROR_CODES.items()}
    docs = (ROOT / "docs/api.md").read_text()
    missing = [code for code in ERROR_CODES if f"`{code}`" not in docs]
    assert not missing, f"docs/api.md does not name {missing}"


def _document(client):
    return client.get("/api/v1/openapi.json").json["components"]["schemas"]


def _submittable(world) -> Candidature:
    reference = world.api.open("dmn_nom_de_marque")
    world.api.fill(reference, "recevabilite", ["documentation_fonctionnelle",
                                               "attestation_protection_donnees",
                                               "declaration_marquage_ce",
                                               "reglement_phase_transitoire"], ["GEN"])
    return db.scalar(select(Candidature).where(Candidature.reference == reference))


def _missing_with(candidature, data) -> list[str]:
    form = db.scalar(select(StepForm).where(StepForm.candidature_id == candidature.id))
    form.data = data
    db.flush()
    return forms.missing_for_submission(candidature, "recevabilite")


def test_form_block_schemas_list_what_the_submission_requires(client, world) -> None:
    schemas = _document(client)
    form_input = schemas["FormInput"]
    candidature = _submittable(world)
    complete = {**FORM_DATA, "profils": ["GEN"]}
    assert _missing_with(candidature, complete) == []
    required_blocks = form_input["x-required-blocks"]["recevabilite"]
    assert set(required_blocks) == {"responsable_legal", "contact", "entreprise", "produit",
                                    "profils"}
    for block in form_input["properties"]:
        without = {k: v for k, v in complete.items() if k != block}
        assert bool(_missing_with(candidature, without)) is (block in required_blocks), block
    for block in ("responsable_legal", "contact", "entreprise", "produit"):
        schema = schemas[f"FormBlock_{block}"]
        assert form_input["properties"][block] == {"$ref": f"#/components/schemas/"
                                                           f"FormBlock_{block}"}
        for field, spec in schema["properties"].items():
            assert spec["type"] == "string"
            data = {**complete, block: {**complete[block], field: ""}}
            refused = _missing_with(candidature, data)
            assert bool(refused) is (field in schema["required"]), (block, field, refused)
            if refused:
                assert spec["description"].lower() in refused[0].lower()


def test_profile_codes_are_published_with_their_labels(client) -> None:
    description = _document(client)["FormInput"]["properties"]["profils"]["description"]
    referentiels = db.scalars(select(Referentiel).where(Referentiel.current.is_(True))).all()
    assert referentiels
    for referentiel in referentiels:
        for profil in referentiel.profils:
            assert f"`{profil.code}` ({profil.label})" in description


def test_the_docs_name_every_field_of_every_block(client) -> None:
    docs = (ROOT / "docs/api.md").read_text()
    schemas = _document(client)
    for name in schemas["FormInput"]["properties"]:
        assert f"`{name}`" in docs, name
        if f"FormBlock_{name}" in schemas:
            for field in schemas[f"FormBlock_{name}"]["properties"]:
                assert f"`{name}.{field}`" in docs, f"{name}.{field}"


def test_saved_blocks_are_checked_for_types(world) -> None:
    reference = world.api.open("dmn_nom_de_marque")
    response = world.api.put(f"/candidatures/{reference}/forms/recevabilite", {
        "contact": "Paul Durand", "entreprise": {"raison_sociale": 12, "siret": "123"},
        "responsable_legal": {"nom": "Martin", "telephone": "appelez-moi"},
        "composants": "aucun", "consentement_email": "oui"})
    assert response.status_code == 422 and response.json["code"] == "validation_error"
    assert response.json["details"]["fields"] == {
        "contact": "Objet attendu.", "entreprise.raison_sociale": "Texte attendu.",
        "entreprise.siret": "Le SIRET compte 14 chiffres.",
        "responsable_legal.telephone": "Numéro de téléphone invalide.",
        "composants": "Liste d'objets attendue.", "consentement_email": "Booléen attendu."}
    draft = world.api.put(f"/candidatures/{reference}/forms/recevabilite",
                          {"contact": {"nom": "Durand"}, "autre": {"libre": 1}})
    assert draft.status_code == 200  # a draft may be incomplete; unknown blocks are kept
    assert draft.json["data"]["autre"] == {"libre": 1}


def test_submission_names_the_missing_field(world) -> None:
    candidature = _submittable(world)
    world.api.put(f"/candidatures/{candidature.reference}/forms/recevabilite",
                  {**FORM_DATA, "profils": ["GEN"],
                   "contact": {**FORM_DATA["contact"], "prenom": " "}})
    response = world.api.post(f"/candidatures/{candidature.reference}/steps/recevabilite/"
                              "submit")
    assert response.status_code == 422 and response.json["code"] == "incomplete"
    assert "le champ « prénom » du bloc « contact »" in response.json["message"]
