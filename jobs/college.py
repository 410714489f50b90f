"""The procès-verbal of a closed séance: a signed PDF of the dossiers, votes, decisions and
members present. Generated once."""

from __future__ import annotations

import hashlib
import io

from backoffice import pdf, signing
from backoffice.db import db
from backoffice.filters import date_fr, datetime_fr
from backoffice.models import Seance
from backoffice.uploads import storage
from jobs import job

VOTES = {"favorable": "favorable", "defavorable": "défavorable", "abstention": "abstention"}
DECISIONS = {"favorable": "FAVORABLE", "defavorable": "DÉFAVORABLE", "ajournee": "AJOURNÉE"}


def render(seance: Seance) -> bytes:
    pages = [pdf.Page()]
    page, y = pages[0], 780.0

    def line(text: str, size: float = 10, bold: bool = False, indent: float = 0) -> None:
        nonlocal page, y
        # long lines (a séance's label, members, motives) wrap instead of running off the page
        for part in pdf.fit_lines(text, size, pdf.A4[0] - 80 - indent, bold=bold):
            if y < 60:
                page, y = pdf.Page(), 800
                pages.append(page)
            page.text(40 + indent, y, part, size, bold)
            y -= size + 6

    line("Agence du Numérique en Santé — Collège de certification", 10, True)
    line(f"Procès-verbal — {seance.label}", 16, True)
    line(f"Séance du {datetime_fr(seance.date)} — close le {datetime_fr(seance.closed_at)}")
    line(f"Président : {seance.president.name} — quorum : {seance.quorum}")
    line("Membres présents : " + ", ".join(m.name for m in seance.members))
    y -= 8
    for number, item in enumerate(seance.items, start=1):
        c = item.candidature
        line(f"{number}. Candidature {c.reference} — {c.product.label} — {c.organisation.name}",
             11, True)
        conflicted = {k.user_id for k in item.conflicts}
        for k in item.conflicts:
            line(f"Conflit d'intérêts déclaré : {k.user.name} (ne vote pas)", indent=14)
        for v in item.votes:
            if v.user_id not in conflicted:
                comment = f" — {v.comment}" if v.comment else ""
                line(f"Vote de {v.user.name} : {VOTES[v.vote]}{comment}", indent=14)
        motive = f" — motif : {item.motive}" if item.motive else ""
        line(f"Décision : {DECISIONS.get(item.decision or '', 'aucune')}{motive}", 10, True, 14)
        y -= 6
    line(f"Procès-verbal établi le {date_fr(seance.closed_at)}.", 9)
    return pdf.build(pages, title=f"Procès-verbal — {seance.label}")


@job
def proces_verbal(seance_id: int) -> str | None:
    seance = db.get(Seance, seance_id)
    if seance is None or seance.status != "close" or seance.pv_storage_key:
        return None
    signed = signing.sign_pdf(render(seance), reason=f"Procès-verbal — {seance.label}")
    stored = storage().save(io.BytesIO(signed), max_size=len(signed) + 1, allowed={"pdf"})
    seance.pv_storage_key, seance.pv_sha256 = stored.key, hashlib.sha256(signed).hexdigest()
    return stored.key
