"""Automatic messages read as French a person wrote (issue 17, item 2): each document's
message agrees with it (« Le certificat … a été émis … Il est joint », « L'attestation …
a été émise … Elle est jointe »), and no wording leaves the agreement to chance."""

from __future__ import annotations

import re

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature, Certificat, Message
from backoffice.reference.files import message_texts


def test_the_certificate_message_agrees_with_the_certificate(driver, product) -> None:
    candidature = driver.open(product, "dmn_nom_de_marque")
    driver.drive(candidature, "certificat")
    db.commit()  # the issuance runs after the commit
    db.expire_all()
    candidature = db.get(Candidature, candidature.id)
    cert = db.scalar(select(Certificat).where(Certificat.candidature_id == candidature.id))
    message = db.scalar(select(Message).where(Message.candidature_id == candidature.id,
                                              Message.event == "emission.emis"))
    assert message.subject == "Certificat de conformité émis"
    assert message.body.startswith(
        f"Le certificat de conformité a été émis sous le numéro {cert.number}. Il est joint")
    assert f"/verify/{cert.number}" in message.body
    assert "{" not in message.body  # every placeholder filled


def test_no_wording_guesses_an_agreement() -> None:
    for event, (subject, body) in message_texts().items():
        for text in (subject, body):
            # a past participle after a placeholder cannot agree with what fills it
            assert not re.search(r"\{\w+\}\s+(a été )?émis", text), (event, text)
            assert not re.search(r"\{step\} : validée", text), (event, text)
    attestation = message_texts()["emission.referencement_emis"]
    assert attestation[0] == "Attestation de référencement émise"
    assert "a été émise" in attestation[1] and "est jointe" in attestation[1]
