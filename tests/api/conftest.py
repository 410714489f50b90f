"""Fixtures for the intake API tests: two organisations with tokens, the référentiels,
vérificateurs to play ANS's side with direct workflow calls (until the screens exist)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature
from backoffice.tokens import new_api_token
from tests.factories import OrganisationFactory, TeamFactory, UserFactory

REFERENTIEL = Path(__file__).resolve().parents[2] / "data" / "referentiel.json"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PRODUCT = {"name": "Careoptim", "version": "v0.1", "type": "socle", "nil": "NIL-0001",
           "responsable": "Jeanne Martin", "description": "Télésurveillance",
           "certifications": ["ISO 27001"],
           "qualification": {"q1": "oui", "q2": "non", "q3": "oui", "q4": "non", "q5": "oui"}}


class Api:
    """A test client speaking as one organisation."""

    def __init__(self, client: Any, token: str) -> None:
        self.client, self.token = client, token

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self._headers(kw.pop("headers", None)),
                               **kw)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None,
             **kw: Any) -> Any:
        return self.client.post(f"/api/v1{path}", json=json, headers=self._headers(headers),
                                **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.put(f"/api/v1{path}", json=json, headers=self._headers(), **kw)

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self._headers())

    def upload(self, path: str, content: bytes = PDF, name: str = "preuve.pdf",
               field: str = "file", headers: dict[str, str] | None = None, **fields: str) -> Any:
        data: dict[str, Any] = {field: (io.BytesIO(content), name), **fields}
        return self.post(path, data=data, content_type="multipart/form-data", headers=headers)

    # --- a whole vendor step ------------------------------------------------------------

    def product(self) -> dict[str, Any]:
        response = self.post("/products", PRODUCT)
        assert response.status_code == 201, response.json
        return response.json

    def open(self, demarche: str) -> str:
        product = self.product()
        response = self.post("/candidatures", {"product_id": product["id"],
                                               "demarche": demarche})
        assert response.status_code == 201, response.json
        return response.json["reference"]

    def fill(self, reference: str, step: str, pieces: list[str], profils: list[str]) -> None:
        form = {"responsable_legal": {"nom": "Martin", "prenom": "Jeanne",
                                      "fonction": "Présidente"},
                "contact": {"nom": "Durand", "prenom": "Paul",
                            "email": "contact@editeur.example.fr"},
                "entreprise": {"raison_sociale": "Éditeur", "siret": "12345678900011"},
                "produit": {"nom": "Careoptim", "version": "v0.1"},
                "profils": profils, "consentement_email": True}
        assert self.put(f"/candidatures/{reference}/forms/{step}", form).status_code == 200
        for piece in pieces:
            response = self.upload(f"/candidatures/{reference}/pieces", name=f"{piece}.pdf",
                                   type=piece, step=step)
            assert response.status_code == 201, response.json


@dataclass
class World:
    api: Api
    other: Api
    dmn_verif: Any
    segur_verif: Any
    college: Any
    organisation: Any


@pytest.fixture
def world(client, ctx) -> World:
    org, other = OrganisationFactory(name="Careoptim"), OrganisationFactory(name="Concurrent")
    tokens = []
    for organisation in (org, other):
        token, raw = new_api_token(organisation, "portail")
        db.add(token)
        tokens.append(raw)
    world = World(
        api=Api(client, tokens[0]), other=Api(client, tokens[1]),
        dmn_verif=UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")]),
        segur_verif=UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="segur")]),
        college=UserFactory(roles=["college"]), organisation=org,
    )
    db.flush()
    return world


def ans(reference: str, action: Any, *args: Any, **kwargs: Any) -> Candidature:
    """ANS's side, through the workflow (the vérificateur screens come later)."""
    db.expire_all()
    candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
    action(candidature, *args, **kwargs)
    db.commit()
    return candidature
