"""The collège's « Dossier complet et synthèse » (issue 17, item 3): forms as labelled
fields, every preuve opened through the safe preview, each section's rounds and verdicts,
printable. The dossier is driven through the real transitions: two rounds on its first
section, then the séance's agenda."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from backoffice.db import db
from backoffice.demo_files import one_page_pdf, store_bytes
from backoffice.models import Preuve, SectionReview
from backoffice.workflow import seances
from backoffice.workflow.scenarios import Driver
from tests.helpers import login_as
from tests.workflow.test_seances import board  # noqa: F401 - fixture


@pytest.fixture
def inscribed(board, referentiels, industriel, dmn_verif, college_member, product):  # noqa: F811
    seance, members = board
    driver = Driver(industriel, dmn_verif, college_member,
                    lambda c, name: store_bytes(c, name, one_page_pdf(name)))
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.drive(candidature, "college", modifications=True)
    seances.inscrire(seance, candidature, actor=members[0])
    db.commit()
    return candidature, members[0]


def test_the_file_shows_forms_as_fields_and_every_preuve_with_its_rounds(client, inscribed):
    candidature, president = inscribed
    login_as(client, president)
    html = client.get(f"/college/dossiers/{candidature.reference}").get_data(as_text=True)
    # labelled fields, never Python data
    for python in ("{&#39;", "{'", "True", "False", "[&#39;", "['", "None"):
        assert python not in html, python
    for label in ("Responsable légal", "Prénom", "Raison sociale", "SIRET",
                  "Consentement aux e-mails"):
        assert f"<dt>{label}</dt>" in html, label
    assert "<dt>Consentement aux e-mails</dt><dd>Oui</dd>" in html
    assert "<li>GEN</li>" not in html and "<li>Général</li>" in html  # profils by label
    # every preuve (the archived one too) is opened through the safe preview
    preuves = db.scalars(select(Preuve).where(Preuve.candidature_id == candidature.id)).all()
    assert len(preuves) > 3 and any(p.archived_at is None for p in preuves)
    for preuve in preuves:
        assert f'href="/college/fichiers/{preuve.fichier_id}/apercu"' in html, preuve.id
    # each section's rounds: the first went through modifications, then was validated
    first = db.scalar(select(SectionReview).where(
        SectionReview.candidature_id == candidature.id).order_by(SectionReview.position))
    assert first.round == 2
    rounds = re.search(rf'data-testid="tours-{first.code}">(.*?)</ol>', html, re.S).group(1)
    steps = re.findall(r"<li>(Tour \d : [^<]*?) le ", rounds)
    assert steps == ["Tour 1 : soumise", "Tour 1 : modifications demandées",
                     "Tour 2 : soumise", "Tour 2 : validée"]
    row = re.search(rf'data-section="{first.code}".*?<tr data-exigence="'
                    rf'{first.exigences[0].code}">(.*?)</tr>', html, re.S).group(1)
    assert "Tour 1 : Non conforme — La preuve ne montre pas la saisie des traits." in row
    assert "Tour 2 : Conforme" in row
    assert "nouvelle_preuve.pdf" in row and "retirée au tour" not in row
    # printable: each part starts a page; the print stylesheet hides the navigation
    assert html.count('class="bo-print-part"') == 5
    css = (Path(__file__).resolve().parents[2] / "backoffice" / "static" / "css" /
           "backoffice.css").read_text()
    media = css[css.index("@media print"):]
    assert "header" in media and ".bo-print-part { break-before: page;" in media


def test_a_preuve_opens_in_the_safe_preview(client, inscribed) -> None:
    candidature, president = inscribed
    preuve = db.scalar(select(Preuve).where(Preuve.candidature_id == candidature.id))
    login_as(client, president)
    page = client.get(f"/college/fichiers/{preuve.fichier_id}/apercu")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Aperçu protégé" in html and "1 page." in html
    image = client.get(f"/college/fichiers/{preuve.fichier_id}/apercu/1.png")
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    assert "sandbox" in image.headers["Content-Security-Policy"]
    # an outsider of the séance: as if the file did not exist
    from tests.factories import UserFactory

    login_as(client, UserFactory(roles=["college"]))
    assert client.get(f"/college/fichiers/{preuve.fichier_id}/apercu").status_code == 404
    assert client.get(f"/college/fichiers/{preuve.fichier_id}/apercu/1.png").status_code == 404


def test_a_real_file_keeps_the_page_budget(client, inscribed, query_recorder) -> None:
    """Two rounds of history, pièces, preuves, messages: still 8 queries (issue 19), the
    history's names and labels read from what the page loaded."""
    candidature, president = inscribed
    login_as(client, president)
    path = f"/college/dossiers/{candidature.reference}"
    client.get(path)
    with query_recorder:
        html = client.get(path).get_data(as_text=True)
    assert query_recorder.count <= 8, "\n".join(q[:120] for q in query_recorder.queries)
    assert "L&#39;industriel (" in html and "a demandé des modifications sur la section" in html
    assert "a déposé pour l&#39;étape « Recevabilité » la pièce justificative « Documentation " \
        "fonctionnelle" in html
