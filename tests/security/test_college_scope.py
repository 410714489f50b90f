"""Issue 15, finding 7, as a curious collège member would try it: walking file ids and
references, reading a séance they do not sit in, looking for the vérificateurs' internal
notes' attachments. Before the fix every DMN dossier and file answered 200 to any
collège member."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from backoffice.db import db
from backoffice.demo_files import one_page_pdf, store_bytes
from backoffice.models import Fichier, Message
from tests.factories import CandidatureFactory, UserFactory
from tests.helpers import login
from tests.security.seats import seat


def test_walking_file_ids_opens_only_the_files_of_ones_seances(client, ctx) -> None:
    member = UserFactory(roles=["college"])
    mine = CandidatureFactory(at="college", status_at_step="inscrite")
    seat([member], mine)
    others = [CandidatureFactory(at="recevabilite"),  # a draft, still at recevabilité
              CandidatureFactory(at="college", status_at_step="a_programmer")]  # not inscribed
    allowed = {store_bytes(mine, "mien.pdf", one_page_pdf("mien")).id}
    for candidature in others:
        store_bytes(candidature, "autre.pdf", one_page_pdf("autre"))
    note = store_bytes(mine, "note.pdf", one_page_pdf("note"))
    db.add(Message(candidature_id=mine.id, author_kind="ans", kind="note_interne",
                   body="Interne", attachments=[note]))
    db.commit()
    login(client, member)
    last = ctx.scalar(select(func.max(Fichier.id)))
    opened = {i for i in range(1, last + 3)
              if client.get(f"/college/fichiers/{i}").status_code == 200}
    assert opened == allowed
    for candidature in others:
        assert client.get(f"/college/dossiers/{candidature.reference}").status_code == 404


def test_the_dossier_page_never_links_an_internal_notes_attachment(client, ctx) -> None:
    member = UserFactory(roles=["college"])
    candidature = CandidatureFactory(at="college", status_at_step="inscrite")
    seat([member], candidature)
    note = store_bytes(candidature, "note-interne.pdf", one_page_pdf("note"))
    db.add(Message(candidature_id=candidature.id, author_kind="ans", kind="note_interne",
                   body="Interne", attachments=[note]))
    db.commit()
    login(client, member)
    page = client.get(f"/college/dossiers/{candidature.reference}").get_data(as_text=True)
    assert f"/college/fichiers/{note.id}" not in page and "note-interne.pdf" not in page
    assert client.get(f"/college/fichiers/{note.id}").status_code == 404


def test_a_seance_one_does_not_sit_in_links_to_no_dossier(client, ctx) -> None:
    member, outsider = UserFactory(roles=["college"]), UserFactory(roles=["college"])
    candidature = CandidatureFactory(at="college", status_at_step="inscrite")
    seance = seat([member], candidature)
    db.commit()
    login(client, outsider)
    page = client.get(f"/college/seances/{seance.id}").get_data(as_text=True)
    assert candidature.reference in page  # the agenda itself stays visible
    assert not re.search(r"/college/dossiers/", page)
    assert client.get(f"/college/dossiers/{candidature.reference}").status_code == 404
