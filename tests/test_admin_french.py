"""The administration speaks French (issue 18, item 7): every admin view's list, details,
edit and creation pages, with one object of each model, are in French (`lang="fr"`), name
every column with a French label (never Flask-Admin's prettified English field name), show
related objects by their names rather than Python reprs, booleans as « Oui »/« Non » and
times in Paris time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from backoffice.admin.base import COMMON_LABELS, SecureModelView
from backoffice.db import db
from backoffice.models import ApiToken, Certificat
from tests.factories import CandidatureFactory, OrganisationFactory, TeamFactory, UserFactory
from tests.helpers import login

REPR = re.compile(r"&lt;\w+ (object at|\d+)|<\w+ object at|\bTrue\b|\bFalse\b|\bNone\b")


def _views(app) -> list[SecureModelView]:
    admin = app.extensions["admin"][0]
    return [v for v in admin._views if isinstance(v, SecureModelView)]


@pytest.fixture
def objects(ctx):
    """One row of every administered model besides the reference data already loaded."""
    TeamFactory(name="Équipe DMN", parcours="dmn")
    organisation = OrganisationFactory()
    ctx.add(ApiToken(organisation=organisation, name="Portail", prefix="cvg_abcdef",
                     token_hash="0" * 64, last_used_at=datetime(2026, 7, 1, 22, 30, tzinfo=UTC)))
    candidature = CandidatureFactory()
    ctx.add(Certificat(candidature_id=candidature.id, kind="certificat",
                       number="ANS-DMN-2026-000001-ABCDE", product_label="Produit",
                       organisation_name=organisation.name, referentiel_label="Réf. 1",
                       issued_at=datetime(2026, 7, 1, 22, 30, tzinfo=UTC)))
    ctx.flush()


def test_every_admin_column_has_a_french_label(app) -> None:
    with app.test_request_context():
        for view in _views(app):
            columns = {c for c, _ in view.get_list_columns()}
            if view.can_view_details:
                columns |= {c for c, _ in view.get_details_columns()}
            unlabelled = sorted(c for c in columns
                                if c not in (view.column_labels or {}) and c not in COMMON_LABELS)
            assert unlabelled == [], f"{view.endpoint}: {unlabelled}"


def test_every_admin_page_is_french_without_reprs(client, ctx, app, objects) -> None:
    login(client, UserFactory(roles=["admin"], last_login_at=datetime(2026, 7, 1, 22, 30,
                                                                      tzinfo=UTC)))
    pages = ["/admin/"]
    with app.test_request_context():
        for view in _views(app):
            pages.append(view.get_url(f"{view.endpoint}.index_view"))
            model = db.query(view.model).first()
            assert model is not None, f"no {view.model.__name__} to show"
            pk = view.get_pk_value(model)
            if view.can_view_details:
                pages.append(view.get_url(f"{view.endpoint}.details_view", id=pk))
            if view.can_edit:
                pages.append(view.get_url(f"{view.endpoint}.edit_view", id=pk))
            if view.can_create:
                pages.append(view.get_url(f"{view.endpoint}.create_view"))
    assert len(pages) > 30
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert '<html lang="fr"' in html, url
        text = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", html, flags=re.S)
        assert not REPR.search(text), f"{url}: {REPR.search(text).group(0)!r}"
        assert "+00:00" not in text, url
        # Paris time: 22:30 UTC on 1 July is 00:30 on 2 July in Paris
        assert "22:30" not in text, url

