"""The convention sent for signature: its text comes from the `convention.document`
template (data/message_templates.json, edited by admins under « Messages automatiques »:
the subject is the title, the body the articles, blank lines separating paragraphs), filled
with the candidature's data; its signatory from the candidature's form."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from backoffice import pdf
from backoffice.db import db, utcnow
from backoffice.filters import date_fr
from backoffice.models import Candidature, StepForm
from backoffice.workflow.definitions import DEMARCHES
from backoffice.yousign import SignatureField, Signer, e164

TEMPLATE_EVENT = "convention.document"
# Where the signature goes on the last page, in PDF points (origin bottom-left).
SIGNATURE_BOX = (330, 90, 200, 70)  # x, y, width, height
BOTTOM_MARGIN = 190  # below this the signature box and its caption need the room


@dataclass(frozen=True)
class Signataire:
    signer: Signer
    fonction: str


@dataclass(frozen=True)
class ConventionDocument:
    title: str
    data: bytes
    field: SignatureField

    @property
    def filename(self) -> str:
        return "convention.pdf"


def _form_data(candidature: Candidature) -> dict:
    """The candidature's form blocks, a later step's overriding an earlier one's."""
    forms = {f.step: f.data for f in db.scalars(
        select(StepForm).where(StepForm.candidature_id == candidature.id))}
    merged: dict = {}
    for step in DEMARCHES[candidature.demarche_code].steps:
        merged.update(forms.get(step) or {})
    return merged


def _text(block: dict, key: str) -> str:
    value = block.get(key) if isinstance(block, dict) else None
    return value.strip() if isinstance(value, str) else ""


def signataire(candidature: Candidature) -> Signataire | None:
    """Who signs for the vendor: the responsable légal when the form gives their e-mail,
    otherwise the contact; all of one person's fields (never one's name and another's
    address). None when neither has a first name, a last name and an e-mail."""
    data = _form_data(candidature)
    for block_name, default_fonction in (("responsable_legal", "responsable légal"),
                                         ("contact", "contact de la candidature")):
        block = data.get(block_name) or {}
        first, last, email = _text(block, "prenom"), _text(block, "nom"), _text(block, "email")
        if first and last and email:
            return Signataire(Signer(first, last, email, e164(_text(block, "telephone"))),
                              _text(block, "fonction") or default_fonction)
    return None


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def values(candidature: Candidature, who: Signataire) -> dict[str, str]:
    data = _form_data(candidature)
    entreprise = data.get("entreprise") or {}
    return {
        "reference": candidature.reference,
        "organisation": _text(entreprise, "raison_sociale") or candidature.organisation.name,
        "siret": _text(entreprise, "siret") or candidature.organisation.siret or "non renseigné",
        "produit": candidature.product.label,
        "demarche": candidature.demarche.label,
        "signataire": who.signer.name,
        "fonction": who.fonction,
        "email": who.signer.email,
        "date": date_fr(utcnow()),
    }


def _template() -> tuple[str, str]:
    from backoffice.workflow.messages import _template as message_template

    return message_template(TEMPLATE_EVENT)


def render(candidature: Candidature, who: Signataire) -> ConventionDocument:
    """The convention's PDF and where its signature field goes."""
    subject, body = _template()
    filled = _Values(values(candidature, who))
    title = subject.format_map(filled)
    paragraphs = [p.strip() for p in body.format_map(filled).split("\n\n") if p.strip()]
    pages = [pdf.Page()]
    page = pages[0]
    y = 780.0
    for line in _lines(title, 60):
        page.text(72, y, line, 16, bold=True)
        y -= 22
    page.text(72, y, f"Candidature {candidature.reference}", 10, grey=True)
    y -= 30
    for paragraph in paragraphs:
        for line in _lines(paragraph, 90):
            if y < BOTTOM_MARGIN:
                page = pdf.Page()
                pages.append(page)
                y = 780.0
            page.text(72, y, line, 11)
            y -= 15
        y -= 8
    x, box_y, width, height = SIGNATURE_BOX
    page.text(x, box_y + height + 12, f"Signature de {who.signer.name}", 10, grey=True)
    page.rect(x, box_y, width, 0.5, (0.6, 0.6, 0.6))
    field = SignatureField(page=len(pages), x=x, y=int(pdf.A4[1] - box_y - height),
                           width=width, height=height)
    return ConventionDocument(title, pdf.build(pages, title=title), field)


def _lines(text: str, width: int) -> list[str]:
    import textwrap

    lines: list[str] = []
    for raw in text.splitlines() or [""]:
        lines += textwrap.wrap(raw, width) or [""]
    return lines
