"""The dossier page and the actions taken from it, through HTTP."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from backoffice.db import db
from backoffice.models import AuditEvent, Candidature, Message, OutboxMail
from tests.api.conftest import PDF
from tests.helpers import csrf_token, login, login_as, logout


def _reload(candidature) -> Candidature:
    db.expire_all()
    return db.get(Candidature, candidature.id)


def _post(desk, path: str, data: dict | None = None, **kw):
    data = {**(data or {}), "csrf_token": csrf_token(desk.client, "/instruction/")}
    return desk.client.post(path, data=data, **kw)


def _flash(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("tab", ["formulaire", "pieces", "preuves", "messagerie",
                                 "historique", "produit"])
def test_every_tab_renders(desk, tab) -> None:
    candidature = desk.candidature()
    response = desk.client.get(f"/instruction/candidatures/{candidature.reference}?onglet={tab}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert candidature.reference in html and "Careoptim" in html
    if tab == "pieces":
        assert "Documentation fonctionnelle" in html and "Télécharger" in html
    if tab == "historique":
        assert "a soumis l&#39;étape" in html or "a soumis l'étape" in html
    if tab == "formulaire":
        assert "Responsable légal de l&#39;entreprise" in html or "Responsable légal" in html


def test_take_request_complements_then_validate(desk) -> None:
    candidature = desk.candidature()
    base = f"/instruction/candidatures/{candidature.reference}"
    response = _post(desk, f"{base}/prendre", follow_redirects=True)
    assert "Le dossier vous est attribué." in _flash(response)
    assert _reload(candidature).step("recevabilite").status == "en_instruction"

    empty = _post(desk, f"{base}/recevabilite/demander-complements", {"message": " "},
                  follow_redirects=True)
    assert "Le message est obligatoire" in _flash(empty)
    assert _reload(candidature).step("recevabilite").status == "en_instruction"

    response = _post(desk, f"{base}/recevabilite/demander-complements",
                     {"message": "Merci de compléter.", "pieces": ["declaration_marquage_ce"]},
                     follow_redirects=True)
    assert "Demande de compléments envoyée" in _flash(response)
    step = _reload(candidature).step("recevabilite")
    assert step.status == "complements_demandes" and step.paused_at is not None
    message = db.scalar(select(Message).where(Message.event == "form.complements_demandes"))
    assert "Déclaration de marquage CE" in message.body

    # the vendor answers through the API, the same vérificateur gets it back
    assert desk.api.post(f"/candidatures/{candidature.reference}/steps/recevabilite/submit",
                         ).status_code == 200
    step = _reload(candidature).step("recevabilite")
    assert step.status == "soumise" and step.assignee_id == desk.me.id
    _post(desk, f"{base}/prendre")
    response = _post(desk, f"{base}/recevabilite/valider", follow_redirects=True)
    assert "étape validée" in _flash(response)
    candidature = _reload(candidature)
    assert candidature.current_step == "convention"


def test_reject_needs_a_motive_and_a_confirmation(desk) -> None:
    candidature = desk.candidature()
    base = f"/instruction/candidatures/{candidature.reference}"
    _post(desk, f"{base}/prendre")
    page = desk.client.get(f"{base}/recevabilite/rejeter")
    assert page.status_code == 200 and "clôt la candidature" in page.get_data(as_text=True)
    refused = _post(desk, f"{base}/recevabilite/rejeter", {"motif": "Hors champ"})
    assert refused.status_code == 422
    assert "Cochez la case pour confirmer." in refused.get_data(as_text=True)
    assert _reload(candidature).status == "en_cours"
    _post(desk, f"{base}/recevabilite/rejeter", {"motif": "Hors champ", "confirmation": "y"})
    candidature = _reload(candidature)
    assert candidature.status == "rejetee"
    assert candidature.step("recevabilite").status == "rejetee"


def test_ligne_generique_decision_is_labelled_informative(desk) -> None:
    candidature = desk.candidature("dmn_ligne_generique")
    base = f"/instruction/candidatures/{candidature.reference}"
    _post(desk, f"{base}/prendre")
    html = desk.client.get(base).get_data(as_text=True)
    assert "Décision informative (phase transitoire)" in html


def test_release_hand_over_and_bulk_assign(desk) -> None:
    a, b = desk.candidature(), desk.candidature()
    base = f"/instruction/candidatures/{a.reference}"
    _post(desk, f"{base}/prendre")
    _post(desk, f"{base}/liberer")
    step = _reload(a).step("recevabilite")
    assert (step.status, step.assignee_id) == ("soumise", None)
    _post(desk, f"{base}/confier", {"user_id": str(desk.colleague.id)})
    assert _reload(a).step("recevabilite").assignee_id == desk.colleague.id
    outsider = _post(desk, f"{base}/confier", {"user_id": str(desk.segur.id)},
                     follow_redirects=True)
    assert "n&#39;est pas vérificateur de ce parcours" in _flash(outsider) or \
        "n'est pas vérificateur de ce parcours" in _flash(outsider)
    response = _post(desk, "/instruction/attribuer",
                     {"references": [a.reference, b.reference], "confier_a": str(desk.me.id)},
                     follow_redirects=True)
    html = _flash(response)
    assert "1 dossier(s) attribué(s)" in html and "attribué à Damien Martin" in html
    assert _reload(b).step("recevabilite").status == "en_instruction"
    actions = db.scalars(select(AuditEvent.action)).all()
    for action in ("attribution.liberer", "attribution.confier", "recevabilite.prendre"):
        assert action in actions


def test_messages_notes_attachments_and_unread(desk) -> None:
    candidature = desk.candidature()
    desk.api.post(f"/candidatures/{candidature.reference}/messages",
                  {"body": "Bonjour, une question."})
    base = f"/instruction/candidatures/{candidature.reference}"
    assert "1 non lu" in desk.client.get(base).get_data(as_text=True)
    thread = desk.client.get(f"{base}?onglet=messagerie").get_data(as_text=True)
    assert "Bonjour, une question." in thread
    assert "non lu" not in desk.client.get(base).get_data(as_text=True)

    data = {"body": "Voici la trame attendue.", "kind": "message", "reponse_attendue": "y",
            "attachments": [(io.BytesIO(PDF), "trame.pdf")], "csrf_token":
            csrf_token(desk.client, "/instruction/")}
    desk.client.post(f"{base}/messages", data=data, content_type="multipart/form-data")
    _post(desk, f"{base}/messages", {"body": "<script>alert(1)</script> à vérifier",
                                     "kind": "note_interne"})
    mine = db.scalars(select(Message).where(Message.author_kind == "ans")
                      .order_by(Message.id)).all()
    assert [(m.kind, m.reponse_attendue, len(m.attachments)) for m in mine] == [
        ("message", True, 1), ("note_interne", False, 0)]
    outbox = db.scalars(select(OutboxMail.message_id)).all()
    assert mine[0].id in outbox and mine[1].id not in outbox
    vendor_view = desk.api.get(f"/candidatures/{candidature.reference}/messages").json
    bodies = [m["body"] for m in vendor_view["items"]]
    assert "Voici la trame attendue." in bodies and not any("vérifier" in b for b in bodies)
    html = desk.client.get(f"{base}?onglet=messagerie").get_data(as_text=True)
    assert "&lt;script&gt;" in html and "<script>alert" not in html
    assert "Note interne — ANS uniquement" in html


def test_file_download_and_preview(desk) -> None:
    candidature = desk.candidature()
    from backoffice.models import Fichier

    fichier = db.scalar(select(Fichier).where(Fichier.candidature_id == candidature.id))
    # fichier_for makes metadata only: give it real bytes
    import hashlib

    from backoffice.uploads import storage

    stored = storage().save(io.BytesIO(PDF), max_size=10_000, allowed={"pdf"})
    fichier.storage_key, fichier.size = stored.key, stored.size
    fichier.sha256 = hashlib.sha256(PDF).hexdigest()
    fichier.original_name = "Attestation été.pdf"
    db.commit()
    download = desk.client.get(f"/instruction/fichiers/{fichier.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''Attestation%20%C3%A9t%C3%A9.pdf" in \
        download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    # this stub PDF cannot be rendered: the viewer says so, and never serves it inline
    preview = desk.client.get(f"/instruction/fichiers/{fichier.id}/apercu")
    assert preview.status_code == 200 and preview.mimetype == "text/html"
    assert "Aperçu impossible" in preview.get_data(as_text=True)


def test_pdf_preview_shows_server_rendered_pages_never_the_pdf(desk) -> None:
    """A PDF may carry scripts, forms and exploits for the viewer that opens it: the
    browser only ever gets PNG images of its pages, rendered in a limited subprocess."""
    import hashlib

    from backoffice.demo_files import one_page_pdf
    from backoffice.models import Fichier
    from backoffice.uploads import storage

    candidature = desk.candidature()
    fichier = db.scalar(select(Fichier).where(Fichier.candidature_id == candidature.id))
    content = one_page_pdf("Attestation", "Une page de test")
    stored = storage().save(io.BytesIO(content), max_size=10_000_000, allowed={"pdf"})
    fichier.storage_key, fichier.size, fichier.kind = stored.key, stored.size, "pdf"
    fichier.sha256, fichier.original_name = hashlib.sha256(content).hexdigest(), "a.pdf"
    db.commit()
    viewer = desk.client.get(f"/instruction/fichiers/{fichier.id}/apercu")
    html = viewer.get_data(as_text=True)
    assert viewer.mimetype == "text/html" and "1 page." in html
    page_url = f"/instruction/fichiers/{fichier.id}/apercu/1.png"
    assert f'src="{page_url}"' in html and "Aperçu protégé" in html
    image = desk.client.get(page_url)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n") and len(image.data) > 1000
    assert image.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert desk.client.get(f"/instruction/fichiers/{fichier.id}/apercu/2.png").status_code == 404
    # another parcours sees neither the viewer nor the pages
    logout(desk.client)
    login(desk.client, desk.segur)
    assert desk.client.get(page_url).status_code == 404
    assert desk.client.get(f"/instruction/fichiers/{fichier.id}/apercu").status_code == 404


def test_another_parcours_cannot_see_or_act(desk) -> None:
    candidature = desk.candidature()
    from backoffice.models import Fichier

    fichier = db.scalar(select(Fichier).where(Fichier.candidature_id == candidature.id))
    logout(desk.client)
    login(desk.client, desk.segur)
    base = f"/instruction/candidatures/{candidature.reference}"
    assert desk.client.get(base).status_code == 404
    assert desk.client.get(f"/instruction/fichiers/{fichier.id}").status_code == 404
    assert desk.client.get("/instruction/file.csv").get_data(as_text=True).count("\n") == 1
    token = csrf_token(desk.client, "/instruction/")
    for path, data in ((f"{base}/prendre", {}),
                       (f"{base}/recevabilite/valider", {}),
                       (f"{base}/recevabilite/demander-complements", {"message": "x"}),
                       (f"{base}/recevabilite/rejeter", {"motif": "x", "confirmation": "y"}),
                       (f"{base}/messages", {"body": "intrusion"}),
                       (f"{base}/confier", {"user_id": str(desk.segur.id)})):
        assert desk.client.post(path, data={**data, "csrf_token": token}).status_code == 404
    bulk = desk.client.post("/instruction/attribuer", data={
        "references": [candidature.reference], "confier_a": str(desk.segur.id),
        "csrf_token": token})
    assert bulk.status_code == 404
    candidature = _reload(candidature)
    assert candidature.step("recevabilite").status == "soumise"
    assert db.scalar(select(func.count()).select_from(Message).where(
        Message.body == "intrusion")) == 0


def _dossier_html(desk, candidature) -> str:
    response = desk.client.get(f"/instruction/candidatures/{candidature.reference}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_release_button_follows_the_predicate(desk) -> None:
    """« Libérer le dossier » is offered exactly when assignment.liberer would accept it:
    to the holder while the step is en instruction, not once compléments are pending
    (the click used to flash a refusal), nor to a colleague."""
    candidature = desk.candidature()
    base = f"/instruction/candidatures/{candidature.reference}"
    assert "Libérer le dossier" not in _dossier_html(desk, candidature)  # nobody holds it
    _post(desk, f"{base}/prendre")
    assert "Libérer le dossier" in _dossier_html(desk, candidature)

    _post(desk, f"{base}/recevabilite/demander-complements", {"message": "Merci de compléter."})
    step = _reload(candidature).step("recevabilite")
    assert (step.status, step.assignee_id) == ("complements_demandes", desk.me.id)
    html = _dossier_html(desk, candidature)
    assert "Libérer le dossier" not in html
    assert "des compléments lui ont été demandés" in html
    refused = _post(desk, f"{base}/liberer", follow_redirects=True)
    assert "cette action n&#39;est plus possible" in _flash(refused) or \
        "cette action n'est plus possible" in _flash(refused)
    assert _reload(candidature).step("recevabilite").assignee_id == desk.me.id

    # the vendor answers: the dossier comes back to its holder, who takes it up again
    step = _reload(candidature).step("recevabilite")
    step.status = "en_instruction"
    db.commit()
    assert "Libérer le dossier" in _dossier_html(desk, candidature)
    logout(desk.client)
    login(desk.client, desk.colleague)
    html = _dossier_html(desk, candidature)
    assert "Libérer le dossier" not in html and "Valider la recevabilité" not in html
    refused = _post(desk, f"{base}/liberer", follow_redirects=True)
    assert "seul le vérificateur qui le tient peut le libérer" in _flash(refused)
    assert _reload(candidature).step("recevabilite").assignee_id == desk.me.id


def test_history_tells_who_by_name_and_what_in_french(desk) -> None:
    import html as entities

    candidature = desk.candidature()
    base = f"/instruction/candidatures/{candidature.reference}"
    _post(desk, f"{base}/prendre")
    _post(desk, f"{base}/recevabilite/demander-complements", {"message": "Kbis illisible."})
    page = entities.unescape(desk.client.get(f"{base}?onglet=historique").get_data(as_text=True))
    assert "Victor Vérificateur" in page and desk.me.email not in page
    assert "a pris en instruction l'étape « Recevabilité » — Soumise → En instruction" in page
    assert ("a demandé des compléments sur l'étape « Recevabilité » — message : "
            "« Kbis illisible. »") in page
    assert "L'industriel (Careoptim)" in page and "a soumis l'étape « Recevabilité »" in page
    assert "recevabilite." not in page  # no raw audit code


def _current_tab(html: str) -> str:
    import re

    match = re.search(r'onglet=(\w+)" aria-current="page"', html)
    assert match, "no tab marked current"
    return match.group(1)


def test_a_form_step_opens_on_its_form_with_the_pieces_checklist(desk) -> None:
    """Issue 18, item 4: the pièces of the step next to its decision, each provided,
    deleted by the support desk or missing, whoever looks (the colleague too)."""
    from backoffice.models import Fichier, Piece

    candidature = desk.candidature()
    pieces = db.execute(select(Piece, Fichier).join(Fichier, Fichier.id == Piece.fichier_id)
                        .where(Piece.candidature_id == candidature.id,
                               Piece.step == "recevabilite")).all()
    by_type: dict[str, list] = {}
    for piece, fichier in pieces:
        by_type.setdefault(piece.type_code, []).append(fichier)
    deleted_type, provided_type = list(by_type)[:2]
    assert len(by_type[deleted_type]) == 1  # its only file is deleted: « supprimée »
    deleted_file = by_type[deleted_type][0]
    deleted_file.deleted_at = deleted_file.uploaded_at
    db.commit()
    for viewer in (desk.me, desk.colleague):
        login_as(desk.client, viewer)
        html = desk.client.get(f"/instruction/candidatures/{candidature.reference}") \
            .get_data(as_text=True)
        assert _current_tab(html) == "formulaire"
        panel = html.split('data-testid="checklist"')[1].split("</section>")[0]
        assert f'data-piece="{deleted_type}" data-state="supprimee"' in panel
        assert "Supprimée par le support" in panel
        assert deleted_file.original_name not in panel
        assert f'data-piece="{provided_type}" data-state="fournie"' in panel
        assert by_type[provided_type][0].original_name in panel


def test_the_evidence_step_opens_on_its_sections(desk) -> None:
    candidature = desk.candidature(until="preuves")
    html = desk.client.get(f"/instruction/candidatures/{candidature.reference}") \
        .get_data(as_text=True)
    assert _current_tab(html) == "preuves"
    panel = html.split('data-testid="step-sections"')[1].split("</section>")[0]
    from backoffice.models import SectionReview

    sections = list(db.scalars(select(SectionReview.code).where(
        SectionReview.candidature_id == candidature.id)))
    assert sections and all(f'data-section="{code}"' in panel for code in sections)
    # asked for, another tab still opens
    html = desk.client.get(f"/instruction/candidatures/{candidature.reference}"
                           "?onglet=messagerie").get_data(as_text=True)
    assert _current_tab(html) == "messagerie"


def test_the_college_step_says_whether_a_seance_is_planned(desk) -> None:
    candidature = desk.candidature(until="college")
    html = desk.client.get(f"/instruction/candidatures/{candidature.reference}") \
        .get_data(as_text=True)
    assert _current_tab(html) == "preuves"
    assert "Pas encore inscrit à une séance" in html


def test_a_closed_dossier_opens_on_its_history(desk) -> None:
    from backoffice.workflow import forms

    candidature = desk.candidature()
    forms.prendre(candidature, "recevabilite", actor=desk.me)
    forms.rejeter(candidature, "recevabilite", actor=desk.me, motif="Hors périmètre.")
    db.commit()
    html = desk.client.get(f"/instruction/candidatures/{candidature.reference}") \
        .get_data(as_text=True)
    assert _current_tab(html) == "historique"
    assert 'data-testid="checklist"' not in html
