"""The OpenAPI document describes what the API does: schemathesis generates requests
from it (valid and invalid) and checks every answer against it."""

from __future__ import annotations

import pytest
import schemathesis
from flask.globals import _cv_app
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


def isolated(app):
    """Each request in its own application context, as in production (see IsolatedClient)."""
    def wsgi(environ, start_response):
        token = _cv_app.set(None)
        try:
            return app(environ, start_response)
        finally:
            _cv_app.reset(token)
    return wsgi


@pytest.fixture
def api_schema(app, world):
    world.api.open("dmn_nom_de_marque")
    app.config["YOUSIGN_WEBHOOK_SECRET"] = "secret-de-test"
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", isolated(app))
    app.config["YOUSIGN_WEBHOOK_SECRET"] = None


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_to_its_openapi_document(case, world) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {world.api.token}"},
                           checks=CHECKS)


def test_openapi_document_is_served(client) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    paths = set(document["paths"])
    for path in ("/products", "/products/{product_id}/evaluations/{questionnaire}",
                 "/candidatures", "/candidatures/{reference}",
                 "/candidatures/{reference}/forms/{step}", "/candidatures/{reference}/pieces",
                 "/candidatures/{reference}/steps/{step}/submit",
                 "/candidatures/{reference}/sections/{section}/exigences/{exigence}/preuves",
                 "/candidatures/{reference}/preuves/{preuve_id}",
                 "/candidatures/{reference}/sections/{section}/submit",
                 "/candidatures/{reference}/preuves-pour-avis",
                 "/candidatures/{reference}/messages",
                 "/candidatures/{reference}/files/{file_id}", "/webhooks/yousign"):
        assert path in paths, path
