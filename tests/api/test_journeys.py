"""The lifecycle issue's end-to-end journeys, through the HTTP API (and direct workflow
calls for the vérificateur's actions until the screens exist)."""

from __future__ import annotations

from sqlalchemy import select

from backoffice.audit import verify_chain
from backoffice.db import db
from backoffice.models import AuditEvent, Candidature
from backoffice.workflow import convention, forms, preuves
from backoffice.workflow.base import SYSTEME
from tests.api.conftest import PDF, ans

DMN_PIECES = ["documentation_fonctionnelle", "attestation_protection_donnees",
              "declaration_marquage_ce", "reglement_phase_transitoire"]


def _review_all(world, reference, verif, *, reject_first=None):
    """Start the review of every submitted section and judge it."""
    detail = world.api.get(f"/candidatures/{reference}").json
    for section in detail["sections"]:
        if section["status"] != "soumise":
            continue
        code = section["code"]
        ans(reference, preuves.commencer_revue, code, actor=verif)
        body = world.api.get(f"/candidatures/{reference}/sections/{code}").json
        for exigence in body["exigences"]:
            verdict = "non_conforme" if exigence["code"] == reject_first else "conforme"
            ans(reference, preuves.juger_exigence, code, exigence["code"], actor=verif,
                verdict=verdict, comment="Capture d'écran illisible" if reject_first else None)
        if reject_first and any(e["code"] == reject_first for e in body["exigences"]):
            ans(reference, preuves.demander_modifications, code, actor=verif)
        else:
            ans(reference, preuves.valider_section, code, actor=verif)


def _file_all_sections(api, reference):
    detail = api.get(f"/candidatures/{reference}").json
    for section in detail["sections"]:
        code = section["code"]
        body = api.get(f"/candidatures/{reference}/sections/{code}").json
        for exigence in body["exigences"]:
            response = api.upload(
                f"/candidatures/{reference}/sections/{code}/exigences/{exigence['code']}/preuves",
                name=f"{exigence['code']}.pdf")
            assert response.status_code == 201, response.json
        response = api.post(f"/candidatures/{reference}/sections/{code}/submit")
        assert response.status_code == 200, response.json
        assert response.json["status"] == "soumise"


def test_nom_de_marque_from_creation_to_the_college(world) -> None:
    api, verif = world.api, world.dmn_verif
    reference = api.open("dmn_nom_de_marque")
    assert len(reference) == 9 and reference.isupper()
    api.fill(reference, "recevabilite", DMN_PIECES, ["GEN", "INS"])
    submitted = api.post(f"/candidatures/{reference}/steps/recevabilite/submit")
    assert submitted.status_code == 200, submitted.json
    step = submitted.json["steps"][0]
    assert step["status"] == "soumise" and step["due_at"] is not None

    # one round of compléments
    ans(reference, forms.prendre, "recevabilite", actor=verif)
    ans(reference, forms.demander_complements, "recevabilite", actor=verif,
        message="La déclaration de marquage CE est illisible.")
    detail = api.get(f"/candidatures/{reference}").json
    assert detail["step_status"] == "complements_demandes"
    assert detail["change_requests"][0]["message"] == "La déclaration de marquage CE est illisible."
    assert detail["deadlines"]["current_step_paused"] is True
    response = api.upload(f"/candidatures/{reference}/pieces", name="marquage_ce_v2.pdf",
                          type="declaration_marquage_ce")
    assert response.status_code == 201
    assert api.post(f"/candidatures/{reference}/steps/recevabilite/submit").status_code == 200
    ans(reference, forms.prendre, "recevabilite", actor=verif)
    ans(reference, forms.valider, "recevabilite", actor=verif)

    # convention, signed through the webhook's transition
    ans(reference, convention.envoyer, actor=verif, signature_request_id="sr-123")
    ans(reference, convention.marquer_signee, actor=SYSTEME)
    ans(reference, convention.valider, actor=verif)
    detail = api.get(f"/candidatures/{reference}").json
    assert detail["step"] == "preuves"
    assert {s["code"] for s in detail["sections"]} == {"ADM", "RGPD", "PORT", "INS"}

    # preuves, with one round of modifications on INS
    _file_all_sections(api, reference)
    _review_all(world, reference, verif, reject_first="INS 1.1")
    detail = api.get(f"/candidatures/{reference}").json
    ins = next(s for s in detail["sections"] if s["code"] == "INS")
    assert ins["status"] == "modifications_demandees"
    request = next(r for r in detail["change_requests"] if r.get("section") == "INS")
    assert request["exigences"] == [{"code": "INS 1.1", "comment": "Capture d'écran illisible"}]
    body = api.get(f"/candidatures/{reference}/sections/INS").json
    old = body["exigences"][0]["preuves"][0]
    assert api.delete(f"/candidatures/{reference}/preuves/{old['id']}").status_code == 200
    path = f"/candidatures/{reference}/sections/INS/exigences/INS 1.1/preuves"
    assert api.upload(path, name="INS_1.1_v2.pdf").status_code == 201
    resubmitted = api.post(f"/candidatures/{reference}/sections/INS/submit")
    assert resubmitted.json["round"] == 2
    archived = [p for p in resubmitted.json["exigences"][0]["preuves"] if p["archived"]]
    assert [p["id"] for p in archived] == [old["id"]]  # still visible, as archived
    _review_all(world, reference, verif)

    detail = api.get(f"/candidatures/{reference}").json
    assert detail["step"] == "college" and detail["step_status"] == "a_programmer"
    assert all(s["status"] == "validee" for s in detail["sections"])
    assert verify_chain().ok
    candidature = db.scalar(select(Candidature).where(Candidature.reference == reference))
    assert db.scalar(select(AuditEvent).where(AuditEvent.candidature_id == candidature.id,
                                              AuditEvent.action == "preuves.valider"))


def test_sons_sas_from_creation_to_referencement(world) -> None:
    api, verif = world.api, world.segur_verif
    reference = api.open("sons_sas")
    api.fill(reference, "depot", [], ["GENERAL"])
    assert api.post(f"/candidatures/{reference}/steps/depot/submit").status_code == 200
    ans(reference, forms.prendre, "depot", actor=verif)
    ans(reference, forms.demander_complements, "depot", actor=verif,
        message="Le SIRET ne correspond pas à la raison sociale.")
    api.fill(reference, "depot", [], ["GENERAL"])
    assert api.post(f"/candidatures/{reference}/steps/depot/submit").status_code == 200
    ans(reference, forms.prendre, "depot", actor=verif)
    ans(reference, forms.valider, "depot", actor=verif)

    refused = api.post(f"/candidatures/{reference}/steps/eligibilite/submit")
    assert refused.status_code == 422 and "Lettre d'engagement" in refused.json["message"]
    api.fill(reference, "eligibilite", ["lettre_engagement"], ["GENERAL"])
    assert api.post(f"/candidatures/{reference}/steps/eligibilite/submit").status_code == 200
    ans(reference, forms.prendre, "eligibilite", actor=verif)
    ans(reference, forms.valider, "eligibilite", actor=verif)

    ans(reference, convention.envoyer, actor=verif, signature_request_id="sr-sas")
    ans(reference, convention.marquer_signee, actor=SYSTEME)
    ans(reference, convention.valider, actor=verif)

    _file_all_sections(api, reference)
    _review_all(world, reference, verif, reject_first="SAS 1.1")
    path = f"/candidatures/{reference}/sections/SAS/exigences/SAS 1.1/preuves"
    assert api.upload(path, name="rapport_inferno.pdf", content=PDF).status_code == 201
    assert api.post(f"/candidatures/{reference}/sections/SAS/submit").json["round"] == 2
    _review_all(world, reference, verif)

    detail = api.get(f"/candidatures/{reference}").json
    assert detail["step"] == "referencement"
    # the référencement job ran after the last commit: number issued, candidature closed
    assert [s["status"] for s in detail["steps"]] == [
        "validee", "validee", "validee", "validee", "emis"]
    assert detail["status"] == "referencee"
    assert verify_chain().ok
    messages = api.get(f"/candidatures/{reference}/messages").json["items"]
    assert "section.modifications_demandees" in [m["event"] for m in messages]
