"""Ligne générique, preuves pour avis: the zip read against the référentiel, one entry
previewed without extraction, the avis informatif."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from backoffice.db import db
from backoffice.demo_files import one_page_pdf, preuves_zip
from backoffice.models import Avis, Candidature
from backoffice.workflow import avis, forms
from backoffice.workflow.avis import match_code
from tests.helpers import csrf_token, login_as


def _lg(desk):
    candidature = desk.candidature("dmn_ligne_generique")
    forms.prendre(candidature, "recevabilite", actor=desk.me)
    forms.valider(candidature, "recevabilite", actor=desk.me)
    db.commit()
    return candidature


def _upload(desk, reference, content, name="preuves_INS.zip"):
    response = desk.api.upload(f"/candidatures/{reference}/preuves-pour-avis", content, name)
    assert response.status_code == 201, response.json
    return response.json


def test_matching_rule() -> None:
    codes = ["INS 1.1", "INS 1.10", "INS 1"]
    assert match_code("INS/INS_1.1.2 capture.pdf", codes) == "INS 1.1"
    assert match_code("INS 1.10.pdf", codes) == "INS 1.10"
    assert match_code("ins 1.pdf", codes) == "INS 1"
    assert match_code("INS 12.pdf", codes) is None
    assert match_code("notes.txt", codes) is None


def test_zip_analysis_preview_and_avis(desk) -> None:
    candidature = _lg(desk)
    reference = candidature.reference
    first = preuves_zip(["INS 1.1"], {"notes de version.txt": b"v1\n"})
    _upload(desk, reference, first, "preuves_v1.zip")
    content = preuves_zip(["INS 1.1", "INS 2.1"], {
        "INS/INS_1.1.2 capture.pdf": one_page_pdf("Capture"),
        "divers/notes.txt": b"rien\n", "ANN/archive.zip": preuves_zip(["ANN 1.1"])})
    upload = _upload(desk, reference, content)
    page = desk.client.get(f"/instruction/candidatures/{reference}/pour-avis")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    matched = html.split('id="table-rattaches"')[1]
    assert 'data-code="INS 1.1"' in matched and "INS_1.1.2 capture.pdf" in matched
    unmatched = html.split('id="non-rattaches"')[1].split("</div>")[0]
    assert "divers/notes.txt" in unmatched and "INS 1.1.pdf" not in unmatched
    missing = html.split('id="sans-fichier"')[1].split("</div>")[0]
    assert 'data-code="INS 3.1"' in missing and 'data-code="INS 1.1"' not in missing
    assert "ANN/archive.zip" in html  # nested archive flagged
    assert "preuves_v1.zip — remplacée le" in html

    entry = desk.client.get(f"/instruction/candidatures/{reference}/pour-avis/{upload['id']}"
                            "/entree", query_string={"nom": "INS 1.1.pdf", "apercu": "1"})
    # a PDF entry is never served inline: the safe viewer, its pages drawn by the server
    assert entry.status_code == 200 and entry.mimetype == "text/html"
    viewer = unescape(entry.get_data(as_text=True))
    assert "Aperçu protégé" in viewer and "1 page." in viewer
    page_url = re.search(r'<img src="([^"]+)"', viewer).group(1)
    image = desk.client.get(page_url)
    assert image.mimetype == "image/png" and image.data.startswith(b"\x89PNG")
    assert image.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    raw = desk.client.get(f"/instruction/candidatures/{reference}/pour-avis/{upload['id']}"
                          "/entree", query_string={"nom": "INS 1.1.pdf"})
    assert raw.data.startswith(b"%PDF") and raw.headers["Content-Disposition"].startswith(
        "attachment")
    text = desk.client.get(f"/instruction/candidatures/{reference}/pour-avis/{upload['id']}"
                           "/entree", query_string={"nom": "divers/notes.txt", "apercu": "1"})
    assert text.headers["Content-Disposition"].startswith("attachment")  # never inline
    assert desk.client.get(f"/instruction/candidatures/{reference}/pour-avis/{upload['id']}"
                           "/entree", query_string={"nom": "../../etc/passwd"}).status_code == 404

    response = desk.client.post(f"/instruction/candidatures/{reference}/pour-avis/avis", data={
        "avis-INS 1.1": "Preuve complète.", "avis-INS 2.1": "",
        "message": "Avis globalement favorable.",
        "csrf_token": csrf_token(desk.client, "/")}, follow_redirects=True)
    assert "L&#39;avis est rendu" in response.get_data(as_text=True) or \
        "L'avis est rendu" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Candidature, candidature.id).status == "avis_rendu"
    rows = db.scalars(select(Avis).where(Avis.candidature_id == candidature.id)).all()
    assert {(a.exigence_code, a.text) for a in rows} == {
        ("INS 1.1", "Preuve complète."), (None, "Avis globalement favorable.")}
    thread = desk.api.get(f"/candidatures/{reference}/messages").json["items"]
    assert thread[-1]["event"] == "pour_avis.avis_rendu"


def _step_status(candidature, code: str) -> str:
    db.expire_all()
    return db.get(Candidature, candidature.id).step(code).status


def test_zip_accepted_once_the_recevabilite_is_submitted(desk) -> None:
    """The vendor guide: « une fois votre recevabilité soumise, déposez vos preuves … dans
    un seul fichier zip » — before the vérificateur has decided on the recevabilité."""
    draft = desk.candidature("dmn_ligne_generique", submit=False)
    refused = desk.api.upload(f"/candidatures/{draft.reference}/preuves-pour-avis",
                              preuves_zip(["INS 1.1"]), "preuves.zip")
    assert refused.status_code == 409
    assert refused.json["code"] == "recevabilite_not_submitted"

    candidature = desk.candidature("dmn_ligne_generique")  # recevabilité soumise
    _upload(desk, candidature.reference, preuves_zip(["INS 1.1"]))
    assert _step_status(candidature, "preuves_pour_avis") == "a_venir"
    candidature = db.get(Candidature, candidature.id)
    forms.prendre(candidature, "recevabilite", actor=desk.me)
    forms.valider(candidature, "recevabilite", actor=desk.me)
    db.commit()
    # the step opens with the zip already there: the vérificateur can give the avis
    assert _step_status(candidature, "preuves_pour_avis") == "deposees"


def test_zip_accepted_after_an_admin_ends_the_transitional_phase(desk) -> None:
    """Regression (issue 16): the gate read the démarche's current phase, so a candidature
    waiting for its zip got 409 for ever once an admin ended the transitional phase."""
    from backoffice.models import Demarche

    candidature = _lg(desk)
    assert _step_status(candidature, "preuves_pour_avis") == "en_attente_depot"
    db.get(Demarche, "dmn_ligne_generique").phase_transitoire = False
    db.commit()
    _upload(desk, candidature.reference, preuves_zip(["INS 1.1"]))
    assert _step_status(candidature, "preuves_pour_avis") == "deposees"
    # a nom de marque candidature has no such step: refused before anything is stored
    other = desk.candidature("dmn_nom_de_marque")
    refused = desk.api.upload(f"/candidatures/{other.reference}/preuves-pour-avis",
                              preuves_zip(["INS 1.1"]), "preuves.zip")
    assert refused.status_code == 409 and refused.json["code"] == "not_pour_avis"


def test_matched_rows_show_titles_and_system_entries_stand_apart(desk) -> None:
    candidature = _lg(desk)
    content = preuves_zip(["INS 1.1"], {
        "__MACOSX/._INS 1.1.pdf": b"\x00\x05\x16\x07", ".DS_Store": b"\x00\x00\x00\x01Bud1",
        "photos/Thumbs.db": b"\xd0\xcf", "divers/notes.txt": b"rien\n"})
    _upload(desk, candidature.reference, content)
    html = desk.client.get(f"/instruction/candidatures/{candidature.reference}/pour-avis") \
        .get_data(as_text=True)
    from backoffice.models.referentiel import ReferentielExigence as Exigence

    title = db.scalar(select(Exigence.title).where(Exigence.code == "INS 1.1").limit(1))
    matched = unescape(html.split('id="table-rattaches"')[1])
    assert title and title in matched.split('data-code="INS 1.1"')[1].split("</tr>")[0]
    unmatched = html.split('id="non-rattaches"')[1].split("</div>")[0]
    assert "Fichiers non rattachés (1)" in unmatched and "divers/notes.txt" in unmatched
    assert "__MACOSX" not in unmatched and ".DS_Store" not in unmatched
    system = html.split('id="fichiers-systeme"')[1].split("</div>")[0]
    for name in ("__MACOSX/._INS 1.1.pdf", ".DS_Store", "photos/Thumbs.db"):
        assert f'data-entry="{name}"' in system


def test_an_unmatched_entry_is_previewed_like_a_matched_one(desk) -> None:
    candidature = _lg(desk)
    upload = _upload(desk, candidature.reference, preuves_zip(["INS 1.1"], {
        "divers/annexe technique.pdf": one_page_pdf("Annexe"), "divers/notes.txt": b"rien\n"}))
    html = unescape(desk.client.get(f"/instruction/candidatures/{candidature.reference}"
                                    "/pour-avis").get_data(as_text=True))
    unmatched = html.split('id="non-rattaches"')[1].split("</div>")[0]
    links = dict(re.findall(r'<a class="fr-link fr-link--sm" href="([^"]+)"[^>]*>(Aperçu|'
                            r'Télécharger)', unmatched))
    previews = [url for url, label in links.items() if label == "Aperçu"]
    assert len(previews) == 2  # both unmatched entries, as matched rows have it
    pdf = next(url for url in previews if "annexe" in url)
    viewer = desk.client.get(pdf)
    # the same safe viewer as a matched entry: pages drawn by the server, never inline
    assert viewer.mimetype == "text/html" and "Aperçu protégé" in unescape(
        viewer.get_data(as_text=True))
    text = desk.client.get(next(url for url in previews if "notes" in url))
    assert text.headers["Content-Disposition"].startswith("attachment")
    assert upload["id"]


def _panel(desk, reference):
    html = unescape(desk.client.get(f"/instruction/candidatures/{reference}")
                    .get_data(as_text=True))
    assert 'data-testid="pour-avis"' in html
    return html.split('data-testid="pour-avis"')[1].split("</section>")[0]


def test_the_dossier_panel_of_the_zip_step(desk) -> None:
    # recevabilité submitted, no zip yet: said so, no action
    candidature = desk.candidature("dmn_ligne_generique")
    panel = _panel(desk, candidature.reference)
    assert "Aucune archive reçue" in panel and "Examiner l'archive" not in panel
    assert "L'avis se rend une fois la recevabilité validée." in panel

    # the zip arrives before the decision on the recevabilité: counted, still no action
    _upload(desk, candidature.reference, preuves_zip(["INS 1.1", "INS 2.1"], {
        "divers/notes.txt": b"rien\n", "__MACOSX/._INS 1.1.pdf": b"\x00\x05\x16\x07"}))
    panel = _panel(desk, candidature.reference)
    assert "preuves_INS.zip" in panel and "4 fichiers dans l'archive" in panel
    assert "Examiner l'archive" not in panel
    # the archive's page reads it against the référentiel in force and the form's profils
    page = desk.client.get(f"/instruction/candidatures/{candidature.reference}/pour-avis")
    assert page.status_code == 200 and 'data-code="INS 1.1"' in page.get_data(as_text=True)

    # the recevabilité validated: the step opens deposees, the avis is offered
    db.expire_all()
    candidature = db.get(Candidature, candidature.id)
    forms.prendre(candidature, "recevabilite", actor=desk.me)
    forms.valider(candidature, "recevabilite", actor=desk.me)
    db.commit()
    panel = _panel(desk, candidature.reference)
    assert "Examiner l'archive et rendre l'avis" in panel and "Déposées" in panel
    exigences = len(avis.selected_exigences(db.get(Candidature, candidature.id)))
    assert exigences > 2
    assert f"2 exigences sur {exigences} avec au moins un fichier" in panel
    assert f"{exigences - 2} exigences sans fichier" in panel
    assert "1 fichier non rattaché" in panel
    assert "1 fichier ajouté par le système, ignoré" in panel

    # another parcours' vérificateur neither reads the dossier nor the archive
    login_as(desk.client, desk.segur)
    for path in ("", "/pour-avis"):
        assert desk.client.get(f"/instruction/candidatures/{candidature.reference}{path}"
                               ).status_code in (403, 404)
    login_as(desk.client, desk.me)

    desk.client.post(f"/instruction/candidatures/{candidature.reference}/pour-avis/avis",
                     data={"message": "Avis favorable.",
                           "csrf_token": csrf_token(desk.client, "/")})
    panel = _panel(desk, candidature.reference)
    assert "Avis rendu le" in panel and "Examiner l'archive" not in panel


def test_no_zip_panel_outside_the_ligne_generique(desk) -> None:
    candidature = desk.candidature("dmn_nom_de_marque")
    html = desk.client.get(f"/instruction/candidatures/{candidature.reference}") \
        .get_data(as_text=True)
    assert 'data-testid="pour-avis"' not in html
