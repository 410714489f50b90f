"""Evidence review through HTTP: the section queue, the review page, verdicts saved as
drafts, rounds and their file diffs, validation and modifications."""

from __future__ import annotations

import re

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature, SectionReview
from backoffice.workflow import preuves
from tests.factories import fichier_for
from tests.helpers import csrf_token, login, logout


def _in_review(desk):
    """A nom de marque candidature whose sections are all submitted."""
    candidature = desk.candidature(until="preuves", submit=False)
    driver = desk.driver()
    for section in driver.sections(candidature):
        driver.file_section(candidature, section)
    db.commit()
    return candidature


def _post(desk, path, **data):
    return desk.client.post(path, data={**data, "csrf_token": csrf_token(desk.client, "/")},
                            follow_redirects=True)


def test_section_queue_lists_submitted_sections(desk) -> None:
    candidature = _in_review(desk)
    html = desk.client.get("/instruction/sections").get_data(as_text=True)
    found = set(re.findall(r'data-reference="([A-Z]{9})" data-section="([A-Z]+)"', html))
    assert {(candidature.reference, c) for c in ("ADM", "RGPD", "PORT", "INS")} <= found
    only_ins = desk.client.get("/instruction/sections?section=INS").get_data(as_text=True)
    assert set(re.findall(r'data-section="([A-Z]+)"', only_ins)) == {"INS"}
    logout(desk.client)
    login(desk.client, desk.segur)
    assert candidature.reference not in desk.client.get("/instruction/sections").get_data(
        as_text=True)


def test_review_a_section_over_two_rounds(desk) -> None:
    candidature = _in_review(desk)
    page = f"/instruction/candidatures/{candidature.reference}/sections/INS"
    _post(desk, f"{page}/commencer")
    html = desk.client.get(page).get_data(as_text=True)
    codes = re.findall(r'data-code="([^"]+)"', html)
    assert codes[0] == "INS 1.1"
    missing = _post(desk, f"{page}/exigences/INS 1.1/verdict", verdict="non_conforme",
                    position="1")
    assert "Un commentaire est obligatoire" in missing.get_data(as_text=True)
    _post(desk, f"{page}/exigences/INS 1.1/verdict", verdict="non_conforme",
          comment="La capture ne montre pas les traits stricts.", position="1")
    # the draft survives a new login
    logout(desk.client)
    login(desk.client, desk.me)
    html = desk.client.get(page).get_data(as_text=True)
    assert "La capture ne montre pas les traits stricts." in html
    refused = _post(desk, f"{page}/valider")
    assert "ne peut être validée" in refused.get_data(as_text=True)
    for code in codes[1:]:
        _post(desk, f"{page}/exigences/{code}/verdict", verdict="conforme")
    html = desk.client.get(page).get_data(as_text=True)
    message = re.search(r'id="modifications-message"[^>]*>([^<]*)<', html).group(1)
    assert "INS 1.1" in message and "traits stricts" in message
    _post(desk, f"{page}/demander-modifications", message=message + "\nMerci.")
    db.expire_all()
    section = db.scalar(select(SectionReview).where(SectionReview.code == "INS"))
    assert section.status == "modifications_demandees"

    # the vendor replaces the file of INS 1.1 and resubmits: round 2
    ins = section.exigences[0]
    old = preuves.active_preuves(ins)[0]
    candidature = db.get(Candidature, candidature.id)
    preuves.archiver_preuve(candidature, old, actor=desk.industriel)
    preuves.deposer_preuve(candidature, "INS", "INS 1.1", actor=desk.industriel,
                           fichier=fichier_for(candidature, "traits_stricts_v2.pdf"))
    preuves.soumettre_section(candidature, "INS", actor=desk.industriel)
    db.commit()
    assert db.get(SectionReview, section.id).assignee_id == desk.me.id  # the same reviewer
    _post(desk, f"{page}/commencer")
    html = desk.client.get(page).get_data(as_text=True)
    first = html.split('data-code="INS 1.1"')[1].split("</section>")[0]
    assert "Modifiée au tour 2" in first and "Ajoutée au tour 2" in first
    assert "Archivée au tour 2" in first and "traits_stricts_v2.pdf" in first
    assert "Tour 1 : Non conforme — La capture ne montre pas les traits stricts." in first
    second = html.split(f'data-code="{codes[1]}"')[1].split("</section>")[0]
    assert "Conforme au tour 1" in second  # the re-review can pass over it
    _post(desk, f"{page}/exigences/INS 1.1/verdict", verdict="conforme")
    response = _post(desk, f"{page}/valider")
    assert "Section INS validée." in response.get_data(as_text=True)


def test_last_validated_section_moves_to_the_college(desk) -> None:
    candidature = _in_review(desk)
    for section in desk.driver().sections(candidature):
        page = f"/instruction/candidatures/{candidature.reference}/sections/{section.code}"
        _post(desk, f"{page}/commencer")
        for exigence in section.exigences:
            _post(desk, f"{page}/exigences/{exigence.code}/verdict", verdict="conforme")
        _post(desk, f"{page}/valider")
    db.expire_all()
    candidature = db.get(Candidature, candidature.id)
    assert candidature.current_step == "college"
    assert candidature.step("college").status == "a_programmer"


def test_non_applicable_needs_a_justification(desk) -> None:
    candidature = _in_review(desk)
    page = f"/instruction/candidatures/{candidature.reference}/sections/PORT"
    _post(desk, f"{page}/commencer")
    section = db.scalar(select(SectionReview).where(SectionReview.code == "PORT"))
    code = section.exigences[0].code
    refused = _post(desk, f"{page}/exigences/{code}/verdict", verdict="non_applicable")
    assert "déclaration sur l&#39;honneur" in refused.get_data(as_text=True) or \
        "déclaration sur l'honneur" in refused.get_data(as_text=True)
    _post(desk, f"{page}/exigences/{code}/verdict", verdict="non_applicable",
          comment="Le DMN n'exporte aucune donnée : exigence sans objet.")
    assert _post(desk, f"{page}/valider").status_code == 200
    db.expire_all()
    assert db.get(SectionReview, section.id).status == "validee"


def test_someone_else_cannot_judge_my_section(desk) -> None:
    candidature = _in_review(desk)
    page = f"/instruction/candidatures/{candidature.reference}/sections/ADM"
    _post(desk, f"{page}/commencer")
    logout(desk.client)
    login(desk.client, desk.colleague)
    section = db.scalar(select(SectionReview).where(SectionReview.code == "ADM"))
    response = _post(desk, f"{page}/exigences/{section.exigences[0].code}/verdict",
                     verdict="conforme")
    assert "attribuée à un autre vérificateur" in response.get_data(as_text=True)
    assert not db.get(SectionReview, section.id).exigences[0].verdicts


def _synthetic_section(desk, exigences: int, files: int) -> tuple[str, str]:
    from backoffice.models import CandidatureExigence, ExigenceVerdict, Preuve
    from tests.factories import CandidatureFactory, ProductFactory

    candidature = CandidatureFactory(product=ProductFactory(organisation=desk.organisation),
                                     at="preuves", status_at_step="en_cours",
                                     deciders=[desk.me])
    section = SectionReview(candidature_id=candidature.id, code="SYN", title="Synthétique",
                            status="en_revue", round=2, assignee_id=desk.me.id)
    section.exigences = [CandidatureExigence(code=f"SYN {i}", title=f"Exigence {i}",
                                             statement="Énoncé", position=i,
                                             expected_preuves=[{"code": f"SYN {i}.1",
                                                                "label": "Preuve"}])
                         for i in range(exigences)]
    db.add(section)
    db.flush()
    for exigence in section.exigences:
        exigence.verdicts.append(ExigenceVerdict(round=1, verdict="conforme",
                                                 author_id=desk.me.id))
        for j in range(files):
            db.add(Preuve(candidature_id=candidature.id, exigence_id=exigence.id,
                          fichier_id=fichier_for(candidature, f"p{j}.pdf").id,
                          round_added=1 + j % 2))
    db.commit()
    return candidature.reference, "SYN"


def test_section_page_runs_a_fixed_number_of_queries(desk) -> None:
    from tests.reviewer.test_queue import count_queries

    small = _synthetic_section(desk, 3, 1)
    large = _synthetic_section(desk, 30, 5)
    counts = []
    for reference, code in (small, large):
        with count_queries() as statements:
            response = desk.client.get(f"/instruction/candidatures/{reference}/sections/{code}")
        assert response.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    html = response.get_data(as_text=True)
    assert html.count('class="bo-verdict"') == 30 and html.count("Télécharger") == 150


def test_my_dossiers_list_the_dossiers_where_i_review_sections(desk) -> None:
    """« Mes dossiers » lists the steps I hold and the dossiers where I review a section
    (marked « Vos sections », named in a notice with a link to « Mes sections »); the
    home page's button says how many sections. A colleague sees theirs only; the bulk
    assignment of « Mes dossiers » hands on my steps, not the sections' dossiers."""
    candidature = _in_review(desk)
    other = _in_review(desk)
    base = f"/instruction/candidatures/{candidature.reference}/sections"
    _post(desk, f"{base}/INS/commencer")
    _post(desk, f"{base}/RGPD/commencer")

    def mine() -> tuple[list[str], str, str]:
        html = desk.client.get("/instruction/file?attribution=moi").get_data(as_text=True)
        found = re.search(r'<div class="fr-notice[^"]*" id="mes-sections">(.*?)</div>\s*</div>'
                          r'\s*</div>', html, re.S)
        notice = re.sub(r"\s+", " ", found.group(1)) if found else ""
        return re.findall(r'<tr data-reference="([A-Z]{9})"', html), notice, html

    def home_button() -> str:
        home = desk.client.get("/instruction/").get_data(as_text=True)
        return re.search(r'attribution=moi">(Mes sections[^<]*)</a>', home).group(1)

    def home_mine() -> str:
        """The home table's « Mes dossiers » cell at the preuves step of the démarche."""
        home = desk.client.get("/instruction/").get_data(as_text=True)
        row = re.search(r'<tr data-demarche="dmn_nom_de_marque" data-step="preuves">(.*?)</tr>',
                        home, re.S).group(1)
        return re.sub(r"<[^>]+>", "", re.findall(r'<td class="bo-num">(.*?)</td>', row)[1])

    listed, notice, html = mine()
    assert listed == [candidature.reference]
    assert "Vos sections" in html and "1 candidature" in html
    assert "Vous révisez 2 sections de preuves dans 1 de ces dossiers." in notice
    assert 'href="/instruction/sections?attribution=moi"' in notice
    assert home_button() == "Mes sections (2)" and home_mine() == "1"
    assert "mes-sections" not in desk.client.get("/instruction/file").get_data(as_text=True)
    # bulk: the steps I hold only (none here): nothing to hand on
    page = desk.client.get("/instruction/file/attribuer-tout?attribution=moi")
    assert "Aucun dossier ne correspond" in page.get_data(as_text=True)
    logout(desk.client)
    login(desk.client, desk.colleague)
    listed, notice, _ = mine()
    assert listed == [] and notice == "" and home_button() == "Mes sections"
    _post(desk, f"/instruction/candidatures/{other.reference}/sections/PORT/commencer")
    listed, notice, _ = mine()
    assert listed == [other.reference] and home_mine() == "1"
    assert "Vous révisez 1 section de preuves dans 1 de ces dossiers." in notice
    # once the last section I held there is decided, the dossier leaves « Mes dossiers »
    from backoffice.models import DossierHolding

    def holdings() -> set[tuple[int, int]]:
        return {(h.user_id, h.candidature_id) for h in db.scalars(select(DossierHolding))}

    assert holdings() == {(desk.me.id, candidature.id), (desk.colleague.id, other.id)}
    row = db.get(Candidature, candidature.id)
    for code in ("INS", "RGPD"):
        section = preuves.section_of(row, code)
        for exigence in section.exigences:
            preuves.juger_exigence(row, code, exigence.code, actor=desk.me, verdict="conforme")
        preuves.valider_section(row, code, actor=desk.me)
        db.commit()
        assert ((desk.me.id, candidature.id) in holdings()) == (code == "INS")
    logout(desk.client)
    login(desk.client, desk.me)
    assert mine()[0] == [] and holdings() == {(desk.colleague.id, other.id)}


def test_my_sections_are_one_click_from_home(desk) -> None:
    """« Mes sections » on the home page: the sections I review, not my colleague's."""
    candidature = _in_review(desk)
    base = f"/instruction/candidatures/{candidature.reference}/sections"
    _post(desk, f"{base}/INS/commencer")
    home = desk.client.get("/instruction/").get_data(as_text=True)
    assert 'href="/instruction/sections?attribution=moi"' in home
    mine = desk.client.get("/instruction/sections?attribution=moi").get_data(as_text=True)
    assert set(re.findall(r'data-section="([A-Z]+)"', mine)) == {"INS"}
    logout(desk.client)
    login(desk.client, desk.colleague)
    theirs = desk.client.get("/instruction/sections?attribution=moi").get_data(as_text=True)
    assert "INS" not in set(re.findall(r'data-section="([A-Z]+)"', theirs))
