"""The OpenAPI 3.0 document of the intake API, served at /api/v1/openapi.json; a
schemathesis run in the tests checks the implementation against it."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from backoffice.api import bp
from backoffice.api.error_codes import ERROR_CODES
from backoffice.auth.access import public
from backoffice.models.files import SCAN_STATUSES
from backoffice.workflow.definitions import ALL_STEP_STATUSES, DEMARCHES, STEPS, CandidatureStatus
from backoffice.workflow.form_blocks import BLOCKS, LABELS, REQUIRED_BLOCKS

DT = {"type": "string", "format": "date-time"}
DT_NULL = {"type": "string", "format": "date-time", "nullable": True}
STR = {"type": "string"}
STR_NULL = {"type": "string", "nullable": True}
INT = {"type": "integer"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: list[str] | None = None,
        extra: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": required if required is not None else list(properties)}
    if not extra:
        schema["additionalProperties"] = False
    return schema


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def multipart(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "properties": properties, "required": required}}}}


BINARY = {"type": "string", "format": "binary"}


def responses(ok: int, schema: dict[str, Any], *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {str(ok): {"description": "OK",
                                     "content": {"application/json": {"schema": schema}}}}
    for status in (400, 401, 404, 405, *errors):
        out[str(status)] = {"$ref": "#/components/responses/Error"}
    return out


REFERENCE = {"name": "reference", "in": "path", "required": True, "schema": STR,
             "description": "Référence de la candidature (9 lettres majuscules)"}
SECTION = {"name": "section", "in": "path", "required": True, "schema": STR}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "minLength": 1, "maxLength": 200}}

def _error_schema() -> dict[str, Any]:
    schema = obj({"code": {"type": "string", "description": "Code stable ; la liste complète "
                                                        "est dans x-error-codes."},
                  "message": STR, "details": {"type": "object"}}, ["code", "message"])
    schema["x-error-codes"] = [{"code": code, "status": status, "description": description}
                               for code, (status, description) in ERROR_CODES.items()]
    return schema


FIELD_FORMATS: dict[str, dict[str, Any]] = {
    "email": {"format": "email"},
    "siret": {"pattern": "^[0-9]{14}$"},
    "telephone": {"pattern": "^\\+?[0-9 .()-]{6,30}$"},
    "text": {},
}


def form_block_schemas() -> dict[str, Any]:
    """One schema per block of form_blocks.BLOCKS: its fields, their types, and (as
    `required`) the fields a submission requires; a saved draft may lack them."""
    schemas = {}
    for block in BLOCKS.values():
        schema = obj({f.name: {"type": "string", "maxLength": f.max_length,
                               "description": f.label[:1].upper() + f.label[1:],
                               **FIELD_FORMATS[f.kind]} for f in block.fields},
                     [f.name for f in block.fields if f.required])
        schema["description"] = (f"Bloc « {block.label} ». Les champs `required` sont "
                                 "obligatoires à la soumission de l'étape (un brouillon peut "
                                 "être incomplet) ; les autres champs envoyés sont conservés.")
        schemas[block.name] = schema
    return schemas


def profils_description() -> str:
    """The profile codes of the référentiels in force, with their labels (database)."""
    from sqlalchemy import select

    from backoffice.db import db
    from backoffice.models import Referentiel

    parts = []
    for referentiel in db.scalars(select(Referentiel).where(Referentiel.current.is_(True))
                                  .order_by(Referentiel.code)):
        codes = ", ".join(f"`{p.code}` ({p.label})" for p in
                          sorted(referentiel.profils, key=lambda p: p.code))
        parts.append(f"{'DMN' if referentiel.code == 'dmn' else 'SONS SAS'} "
                     f"(référentiel {referentiel.version}) : {codes}")
    return ("Codes des profils du référentiel en vigueur (obligatoire à la soumission de la "
            "recevabilité). " + " ; ".join(parts) + ".")


def form_input_schema() -> dict[str, Any]:
    required = " ; ".join(f"{STEPS[step].label} : {', '.join(blocks) or 'aucun'}"
                          for step, blocks in REQUIRED_BLOCKS.items())
    return {
        "type": "object",
        "description": "Les blocs du formulaire d'une étape. Blocs obligatoires à la "
                       f"soumission, par étape — {required}.",
        "properties": {
            **{name: ref(f"FormBlock_{name}") for name in BLOCKS},
            "profils": {"type": "array", "items": {"type": "string", "maxLength": 32},
                        "description": profils_description()},
            "composants": {"type": "array", "items": {"type": "object"},
                           "description": LABELS["composants"].capitalize()
                           + " (objets libres)."},
            "consentement_email": {"type": "boolean",
                                   "description": "L'industriel accepte d'être notifié par "
                                                  "e-mail."},
        },
        "x-required-blocks": {step: list(blocks) for step, blocks in REQUIRED_BLOCKS.items()},
    }


SCHEMAS: dict[str, Any] = {
    "Error": _error_schema(),
    "ProductInput": obj({
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "version": {"type": "string", "minLength": 1, "maxLength": 50},
        "type": {"type": "string", "enum": ["socle", "option"]},
        "nil": {"type": "string", "maxLength": 50, "nullable": True},
        "responsable": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 5000},
        "certifications": {"type": "array", "items": STR, "maxItems": 50},
        "qualification": {"type": "object",
                          "description": "Les cinq réponses de l'étape de qualification"},
    }, ["name", "version", "type", "responsable"]),
    "Product": obj({"id": INT, "label": STR, "number": INT, "name": STR, "version": STR,
                    "type": STR, "nil": STR_NULL, "responsable": STR, "description": STR,
                    "certifications": {"type": "array", "items": STR},
                    "qualification": {"type": "object"}, "created_at": DT}),
    "EvaluationInput": obj({"answered": {"type": "integer", "minimum": 0},
                            "total": {"type": "integer", "minimum": 1},
                            "score": {"type": "integer", "minimum": 0, "nullable": True},
                            "level": STR_NULL, "criteria": {"type": "object"}},
                           ["answered", "total"]),
    "Evaluation": obj({"questionnaire": STR, "answered": INT, "total": INT,
                       "score": {"type": "integer", "nullable": True}, "level": STR_NULL,
                       "criteria": {"type": "object"}, "updated_at": DT}),
    "CandidatureInput": obj({"product_id": {"type": "integer", "minimum": 1},
                             "demarche": {"type": "string", "enum": list(DEMARCHES)}}),
    "CandidatureSummary": obj({
        "reference": STR, "demarche": {"type": "string", "enum": list(DEMARCHES)},
        "status": {"type": "string", "enum": [s.value for s in CandidatureStatus]},
        "step": {"type": "string", "enum": list(STEPS)},
        "step_status": {"type": "string", "enum": list(ALL_STEP_STATUSES)},
        "product": obj({"id": INT, "label": STR}),
        "created_at": DT, "last_activity_at": DT}),
    "Step": obj({"step": STR, "status": STR, "due_at": DT_NULL, "submitted_at": DT_NULL,
                 "decided_at": DT_NULL, "informative": {"type": "boolean"}}),
    "Section": obj({"code": STR, "title": STR, "status": STR, "round": INT}),
    "File": obj({"id": INT, "name": STR, "size": INT, "sha256": STR, "content_type": STR,
                 "uploaded_at": DT,
                 "scan_status": {"type": "string", "enum": list(SCAN_STATUSES),
                                 "description": "Analyse antivirus : sans_objet (pas "
                                                "d'antivirus), en_attente, sain, infecte "
                                                "(mis en quarantaine), erreur (relancée)"},
                 "scan_signature": {"type": "string", "nullable": True,
                                    "description": "Signature détectée (fichier infecté)"}}),
    "Preuve": obj({"id": INT, "file": ref("File"), "round_added": INT,
                   "archived": {"type": "boolean"}, "archived_at": DT_NULL}),
    "SectionDetail": obj({"code": STR, "title": STR, "status": STR, "round": INT,
                          "exigences": {"type": "array", "items": obj({
                              "code": STR, "title": STR, "declaration_non_applicable": STR_NULL,
                              "preuves": {"type": "array", "items": ref("Preuve")}})}}),
    "Message": obj({"id": INT, "author": {"type": "string",
                                          "enum": ["systeme", "industriel", "ans"]},
                    "kind": STR, "event": STR_NULL, "subject": STR, "body": STR,
                    "created_at": DT, "attachments": {"type": "array", "items": ref("File")}}),
}
SCHEMAS["Candidature"] = {"allOf": [ref("CandidatureSummary"), obj({
    "demarche_label": STR, "submitted_at": DT_NULL, "closed_at": DT_NULL,
    "profils": {"type": "array", "items": STR},
    "steps": {"type": "array", "items": ref("Step")},
    "sections": {"type": "array", "items": ref("Section")},
    "change_requests": {"type": "array", "items": {"type": "object"}},
    "deadlines": obj({"campaign_closes_at": DT_NULL, "current_step_due_at": DT_NULL,
                      "current_step_paused": {"type": "boolean"}}),
    "result": {**obj({
        "kind": {"type": "string", "enum": ["certificat", "referencement"],
                 "description": "certificat : certificat de conformité (DMN) ; "
                                "referencement : attestation de référencement (SONS SAS)"},
        "number": {"type": "string", "description": "Numéro du document, à vérifier sur "
                                                    "verify_url"},
        "numero_referencement": {"type": "string", "nullable": True,
                                 "description": "Numéro unique de référencement (SONS SAS), "
                                                "demandé pour l'inscription auprès de l'ASP"},
        "issued_at": DT, "next_check_at": DT_NULL,
        "status": {"type": "string", "enum": ["valide", "suspendu", "retire"]},
        "status_changed_at": DT_NULL,
        "verify_url": {"type": "string", "description": "Page publique de vérification"},
        "file": ref("File"),
    }), "nullable": True,
        "description": "Le document délivré, une fois émis (sinon null)"},
})]}

MULTIPART_415 = (415, 413, 409, 422)


def document() -> dict[str, Any]:
    candidature = [REFERENCE]
    paths: dict[str, Any] = {
        "/products": {"post": {
            "summary": "Créer un produit", "operationId": "createProduct",
            "parameters": [IDEMPOTENCY], "requestBody": json_body(ref("ProductInput")),
            "responses": responses(201, ref("Product"), 415, 422)}},
        "/products/{product_id}": {"get": {
            "summary": "Lire un produit", "operationId": "getProduct",
            "parameters": [{"name": "product_id", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "responses": responses(200, ref("Product"))}},
        "/products/{product_id}/evaluations/{questionnaire}": {"put": {
            "summary": "Enregistrer le résultat d'une auto-évaluation",
            "operationId": "putEvaluation",
            "parameters": [{"name": "product_id", "in": "path", "required": True,
                            "schema": {"type": "integer"}},
                           {"name": "questionnaire", "in": "path", "required": True,
                            "schema": STR, "example": "securite-2021"}],
            "requestBody": json_body(ref("EvaluationInput")),
            "responses": responses(200, ref("Evaluation"), 415, 422)}},
        "/candidatures": {
            "get": {"summary": "Candidatures de l'organisation", "operationId": "listCandidatures",
                    "parameters": [
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                        {"name": "after", "in": "query", "schema": STR}],
                    "responses": responses(200, obj({
                        "items": {"type": "array", "items": ref("CandidatureSummary")},
                        "next": STR_NULL}), 422)},
            "post": {"summary": "Ouvrir une candidature", "operationId": "createCandidature",
                     "parameters": [IDEMPOTENCY],
                     "requestBody": json_body(ref("CandidatureInput")),
                     "responses": responses(201, ref("Candidature"), 403, 409, 415, 422)}},
        "/candidatures/{reference}": {"get": {
            "summary": "État, étapes, demandes en cours, échéances",
            "operationId": "getCandidature", "parameters": candidature,
            "responses": responses(200, ref("Candidature"))}},
        "/candidatures/{reference}/forms/{step}": {"put": {
            "summary": "Enregistrer le formulaire d'une étape", "operationId": "putForm",
            "parameters": [REFERENCE, {"name": "step", "in": "path", "required": True,
                                       "schema": STR}],
            "requestBody": json_body(ref("FormInput")),
            "responses": responses(200, obj({"step": STR, "data": {"type": "object"}}),
                                   403, 409, 413, 415, 422)}},
        "/candidatures/{reference}/pieces": {"post": {
            "summary": "Déposer une pièce justificative", "operationId": "uploadPiece",
            "parameters": [REFERENCE, IDEMPOTENCY],
            "requestBody": multipart({"type": STR, "step": STR, "file": BINARY},
                                     ["type", "file"]),
            "responses": responses(201, obj({"id": INT, "step": STR, "type": STR,
                                             "file": ref("File")}), 403, *MULTIPART_415)}},
        "/candidatures/{reference}/steps/{step}/submit": {"post": {
            "summary": "Soumettre une étape de formulaire", "operationId": "submitStep",
            "parameters": [REFERENCE, {"name": "step", "in": "path", "required": True,
                                       "schema": STR}, IDEMPOTENCY],
            "responses": responses(200, ref("Candidature"), 403, 409, 422)}},
        "/candidatures/{reference}/abandon": {"post": {
            "summary": "Abandonner la candidature", "operationId": "abandon",
            "parameters": [REFERENCE, IDEMPOTENCY],
            "responses": responses(200, ref("Candidature"), 403, 409, 422)}},
        "/candidatures/{reference}/sections/{section}": {"get": {
            "summary": "Une section, ses exigences et ses preuves", "operationId": "getSection",
            "parameters": [REFERENCE, SECTION],
            "responses": responses(200, ref("SectionDetail"))}},
        "/candidatures/{reference}/sections/{section}/exigences/{exigence}/preuves": {"post": {
            "summary": "Déposer une preuve (ou la déclaration de non-applicabilité)",
            "operationId": "uploadPreuve",
            "parameters": [REFERENCE, SECTION,
                           {"name": "exigence", "in": "path", "required": True, "schema": STR},
                           IDEMPOTENCY],
            "requestBody": multipart({"file": BINARY, "declaration_non_applicable": STR}, []),
            "responses": responses(201, {"type": "object"}, 403, *MULTIPART_415)}},
        "/candidatures/{reference}/preuves/{preuve_id}": {"delete": {
            "summary": "Archiver une de ses preuves", "operationId": "archivePreuve",
            "parameters": [REFERENCE, {"name": "preuve_id", "in": "path", "required": True,
                                       "schema": {"type": "integer"}}],
            "responses": responses(200, obj({"id": INT, "archived": {"type": "boolean"},
                                             "archived_at": DT_NULL}), 403, 409)}},
        "/candidatures/{reference}/sections/{section}/submit": {"post": {
            "summary": "Soumettre une section pour revue", "operationId": "submitSection",
            "parameters": [REFERENCE, SECTION, IDEMPOTENCY],
            "responses": responses(200, ref("SectionDetail"), 403, 409, 422)}},
        "/candidatures/{reference}/preuves-pour-avis": {"post": {
            "summary": "Déposer le zip des preuves pour avis (ligne générique)",
            "operationId": "uploadZip", "parameters": [REFERENCE, IDEMPOTENCY],
            "requestBody": multipart({"file": BINARY}, ["file"]),
            "responses": responses(201, obj({
                "id": INT, "file": ref("File"), "total_size": INT,
                "entries": {"type": "array", "items": obj({"name": STR, "size": INT})},
                "nested_archives": {"type": "array", "items": STR}}), 403, *MULTIPART_415)}},
        "/candidatures/{reference}/messages": {
            "get": {"summary": "Fil de messages (par pages, les plus récents d'abord)",
                    "operationId": "listMessages",
                    "parameters": [*candidature,
                                   {"name": "limit", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1,
                                               "maximum": 200}},
                                   {"name": "after", "in": "query", "schema": STR}],
                    "responses": responses(200, obj({
                        "items": {"type": "array", "items": ref("Message")},
                        "next": STR_NULL}), 422)},
            "post": {"summary": "Écrire aux vérificateurs", "operationId": "postMessage",
                     "parameters": [REFERENCE, IDEMPOTENCY],
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": obj({
                             "subject": {"type": "string", "maxLength": 200},
                             "body": {"type": "string", "minLength": 1, "maxLength": 20000}},
                             ["body"])},
                         "multipart/form-data": {"schema": {"type": "object", "properties": {
                             "subject": STR, "body": STR,
                             "attachments": {"type": "array", "items": BINARY}},
                             "required": ["body"]}}}},
                     "responses": responses(201, ref("Message"), 403, *MULTIPART_415)}},
        "/candidatures/{reference}/files/{file_id}": {"get": {
            "summary": "Télécharger un fichier de la candidature",
            "description": "Refusé (409 `file_not_available`, `details.reason` : "
                           "en_attente, erreur, infecte ou supprime) tant que le fichier "
                           "n'est pas ouvrable.",
            "operationId": "downloadFile",
            "parameters": [REFERENCE, {"name": "file_id", "in": "path", "required": True,
                                       "schema": {"type": "integer"}}],
            "responses": {**responses(200, {}, 409), "200": {
                "description": "Le contenu du fichier (en pièce jointe)",
                "content": {"*/*": {"schema": BINARY}}}}}},
        "/webhooks/yousign": {"post": {
            "summary": "Événements Yousign (signés par secret partagé)",
            "operationId": "yousignWebhook", "security": [],
            "parameters": [{"name": "X-Yousign-Signature-256", "in": "header",
                            "required": True, "schema": STR}],
            "requestBody": json_body(obj({
                "event_id": {"type": "string", "minLength": 1, "maxLength": 100},
                "event_name": {"type": "string", "enum": [
                    "signature_request.done", "signature_request.declined",
                    "signature_request.expired", "signature_request.canceled"]},
                "data": obj({"signature_request": obj({
                    "id": {"type": "string", "minLength": 1, "maxLength": 100},
                    "decline_information": obj({"reason": STR}, [])}, ["id"])})})),
            "responses": responses(200, obj({"status": {"type": "string", "enum": [
                "processed", "ignored", "duplicate"]}}, ["status"]), 413, 503)}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Convergence — API d'intégration du back-office", "version": "1.0.0",
                 "description": "L'API que le portail Convergence appelle pour le compte "
                                "d'une organisation (jeton Bearer)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {**SCHEMAS, "FormInput": form_input_schema(),
                        **{f"FormBlock_{name}": schema
                           for name, schema in form_block_schemas().items()}},
            "responses": {"Error": {"description": "Erreur", "content": {
                "application/json": {"schema": ref("Error")}}}},
        },
    }


@bp.get("/openapi.json")
@public
def openapi_document():
    return jsonify(document())
