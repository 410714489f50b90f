"""An organisation's token never sees nor touches another organisation's product,
candidature, file or message: 404, as if it did not exist."""

from __future__ import annotations

from sqlalchemy import func, select

from backoffice.db import db
from backoffice.models import Message, Piece, Preuve


def test_other_organisation_gets_404_everywhere(world) -> None:
    api, other = world.api, world.other
    product = api.product()
    reference = api.open("dmn_nom_de_marque")
    api.fill(reference, "recevabilite", ["documentation_fonctionnelle"], ["GEN"])
    api.post(f"/candidatures/{reference}/messages", {"body": "Bonjour"})
    counts = [db.scalar(select(func.count()).select_from(m)) for m in (Piece, Preuve, Message)]

    calls = [
        other.get(f"/products/{product['id']}"),
        other.put(f"/products/{product['id']}/evaluations/securite-2021",
                  {"answered": 36, "total": 36, "score": 34}),
        other.post("/candidatures", {"product_id": product["id"], "demarche": "dmn_pecan"}),
        other.get(f"/candidatures/{reference}"),
        other.put(f"/candidatures/{reference}/forms/recevabilite", {"produit": {}}),
        other.upload(f"/candidatures/{reference}/pieces", type="documentation_fonctionnelle"),
        other.post(f"/candidatures/{reference}/steps/recevabilite/submit"),
        other.upload(f"/candidatures/{reference}/sections/INS/exigences/INS 1.1/preuves"),
        other.delete(f"/candidatures/{reference}/preuves/1"),
        other.post(f"/candidatures/{reference}/sections/INS/submit"),
        other.get(f"/candidatures/{reference}/sections/INS"),
        other.upload(f"/candidatures/{reference}/preuves-pour-avis", name="p.zip"),
        other.get(f"/candidatures/{reference}/messages"),
        other.post(f"/candidatures/{reference}/messages", {"body": "Intrusion"}),
        other.post(f"/candidatures/{reference}/abandon"),
    ]
    for response in calls:
        assert response.status_code == 404, (response.request.path, response.json)
        assert response.json["code"] == "not_found"
    assert other.get("/candidatures").json == {"items": [], "next": None}
    assert [db.scalar(select(func.count()).select_from(m))
            for m in (Piece, Preuve, Message)] == counts
    assert api.get(f"/candidatures/{reference}").status_code == 200


def test_listing_pages_by_key(world) -> None:
    api = world.api
    references = [api.open("dmn_pecan") for _ in range(5)]
    first = api.get("/candidatures?limit=2").json
    assert [c["reference"] for c in first["items"]] == references[::-1][:2]
    second = api.get(f"/candidatures?limit=2&after={first['next']}").json
    third = api.get(f"/candidatures?limit=2&after={second['next']}").json
    assert [c["reference"] for c in second["items"] + third["items"]] == references[::-1][2:]
    assert third["next"] is None
    assert api.get("/candidatures?after=%%%").json["code"] == "invalid_cursor"
