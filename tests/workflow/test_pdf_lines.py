"""Nothing printed past the page's edge (issue 17, item 2): the procès-verbal wraps its long
lines — a séance's label, a vote's comment — instead of cutting them; what poppler's
pdftotext reads (only what lies on the page) holds the whole text."""

from __future__ import annotations

from backoffice import pdf
from backoffice.workflow import seances
from tests.helpers import pdf_text
from tests.workflow.test_seances import board, item  # noqa: F401 - fixtures

COMMENT = ("Le dossier est solide : les preuves de la section INS montrent la saisie des "
           "traits d'identité, la qualification de l'identité et le retour au téléservice, "
           "ce que le référentiel attend de l'exigence INS 3.1 comme de ses voisines.")


def test_fit_lines_keeps_each_line_inside_the_room() -> None:
    lines = pdf.fit_lines(COMMENT, 10, 300)
    assert len(lines) > 2 and " ".join(lines) == COMMENT
    assert all(pdf.text_width(line, 10) <= 300 for line in lines)


def test_the_minutes_wrap_long_lines(item, board, tmp_path) -> None:  # noqa: F811
    from jobs.college import render

    seance, (president, m1, _) = board
    seance.label = "Séance extraordinaire du collège de certification consacrée aux DMN " \
                   "de télésurveillance et aux renouvellements"
    seances.voter(item, actor=president, vote="favorable")
    seances.voter(item, actor=m1, vote="favorable", comment=COMMENT)
    seances.decider(item, actor=president, decision="favorable")
    text = pdf_text(render(seance), tmp_path)
    assert f"Procès-verbal — {seance.label}" in text
    assert COMMENT in text
