"""A database constraint refusing a change: a French message (UI) or a stable JSON code
(API), the whole transaction rolled back, uploaded bytes removed, the app still serving."""

from __future__ import annotations

import io
import types
from html import unescape
from pathlib import Path

from sqlalchemy import func, select

from backoffice import audit
from backoffice.db import db
from backoffice.models import AuditEvent, Fichier, Message, OutboxMail, User
from tests.api.conftest import PDF
from tests.factories import UserFactory
from tests.helpers import csrf_token, login

REFUSED = "L'enregistrement a été refusé : il entre en conflit avec des données existantes"


def _count(model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def _stored_files(app) -> set[Path]:
    root = Path(app.config["STORAGE_DIR"])
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_a_constraint_error_in_a_vendor_message_rolls_everything_back(desk, app, monkeypatch) -> None:  # noqa: E501
    """Fault injection: a duplicate row collides in the middle of the real route."""
    candidature = desk.candidature()
    real = desk.api.post(f"/candidatures/{candidature.reference}/messages", {"body": "Un."})
    assert real.status_code == 201
    taken = db.scalar(select(Fichier.storage_key).limit(1))

    def record_then_collide(*args, **kwargs):
        event = audit.record(*args, **kwargs)
        db.add(Fichier(candidature_id=candidature.id, storage_key=taken, original_name="x",
                       size=1, sha256="0" * 64, kind="pdf", content_type="application/pdf"))
        db.flush()  # unique storage_key: IntegrityError
        return event

    monkeypatch.setattr("backoffice.workflow.messages.audit",
                        types.SimpleNamespace(record=record_then_collide))
    before = (_count(Message), _count(Fichier), _count(AuditEvent), _stored_files(app))
    response = desk.api.client.post(
        f"/api/v1/candidatures/{candidature.reference}/messages",
        data={"body": "Deux.", "attachments": [(io.BytesIO(PDF), "annexe.pdf")]},
        headers=desk.api._headers(), content_type="multipart/form-data")
    assert response.status_code == 409
    assert response.json["code"] == "conflict"  # docs/api.md: retry, nothing was saved
    db.expire_all()
    assert (_count(Message), _count(Fichier), _count(AuditEvent), _stored_files(app)) == before
    assert desk.api.get(f"/candidatures/{candidature.reference}/messages").status_code == 200


def test_a_constraint_error_in_a_reviewer_action_shows_a_french_page(desk, app, monkeypatch) -> None:  # noqa: E501
    candidature = desk.candidature()
    candidature.contact_email, candidature.email_opt_in = "qualite@editeur.fr", True
    db.commit()
    from backoffice.workflow import messages as messagerie

    def queue_twice(candidature, message):
        mail = messagerie_queue(candidature, message)
        db.add(OutboxMail(message_id=message.id, recipient="x@y.fr", subject="s", body="b"))
        db.flush()  # one mail per message: IntegrityError
        return mail

    messagerie_queue = messagerie.queue_email
    monkeypatch.setattr(messagerie, "queue_email", queue_twice)
    base = f"/instruction/candidatures/{candidature.reference}"
    before = (_count(Message), _count(Fichier), _count(OutboxMail), _stored_files(app))
    response = desk.client.post(f"{base}/messages", data={
        "body": "Merci de compléter.", "kind": "message",
        "attachments": [(io.BytesIO(PDF), "trame.pdf")],
        "csrf_token": csrf_token(desk.client, base)}, content_type="multipart/form-data")
    assert response.status_code == 409
    html = unescape(response.get_data(as_text=True))
    assert REFUSED in html and "IntegrityError" not in html and "INSERT" not in html
    db.expire_all()
    assert (_count(Message), _count(Fichier), _count(OutboxMail), _stored_files(app)) == before
    assert desk.client.get(base).status_code == 200


def test_admin_duplicate_email_gets_a_message_next_to_the_field(client, ctx) -> None:
    login(client, UserFactory(roles=["admin"]))
    existing = UserFactory(email="deja.la@ans.test.fr")
    other = UserFactory(email="autre@ans.test.fr")
    response = client.post("/admin/user/new/", data={
        "email": "Deja.La@ans.test.fr", "name": "Doublon", "active": "y",
        "roles": ["support"], "new_password": "un-mot-de-passe-solide",
        "csrf_token": csrf_token(client, "/admin/user/new/")})
    assert response.status_code == 200
    html = unescape(response.get_data(as_text=True))
    assert "Cette adresse électronique est déjà celle d'un autre compte." in html
    assert "IntegrityError" not in html
    assert ctx.scalar(select(func.count()).select_from(User).where(
        func.lower(User.email) == "deja.la@ans.test.fr")) == 1
    # editing another account to take that address is refused the same way
    response = client.post(f"/admin/user/edit/?id={other.id}", data={
        "email": existing.email, "name": other.name, "active": "y", "roles": ["verificateur"],
        "csrf_token": csrf_token(client, f"/admin/user/edit/?id={other.id}")})
    assert "déjà celle d'un autre compte" in unescape(response.get_data(as_text=True))
    ctx.refresh(other)
    assert other.email == "autre@ans.test.fr"
    # keeping one's own address is fine
    response = client.post(f"/admin/user/edit/?id={other.id}", data={
        "email": other.email, "name": "Autre renommé", "active": "y",
        "roles": ["verificateur"],
        "csrf_token": csrf_token(client, f"/admin/user/edit/?id={other.id}")})
    assert response.status_code == 302
