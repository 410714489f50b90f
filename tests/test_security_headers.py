"""Every response carries the security headers; DSFR pages forbid inline scripts."""

from __future__ import annotations

import re

from tests.factories import UserFactory
from tests.helpers import login


def test_pages_forbid_inline_scripts_and_framing(client, ctx) -> None:
    for path in ("/connexion", "/certificats"):
        response = client.get(path)
        policy = response.headers["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]+)", policy).group(1)
        assert "'unsafe-inline'" not in script_src and "'nonce-" in script_src
        assert "frame-ancestors 'none'" in policy
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        html = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script on " + path


def test_each_response_gets_its_own_nonce(client) -> None:
    first = client.get("/connexion").headers["Content-Security-Policy"]
    second = client.get("/connexion").headers["Content-Security-Policy"]
    assert re.search(r"nonce-([^']+)", first).group(1) != re.search(r"nonce-([^']+)",
                                                                     second).group(1)


def test_admin_area_policy_still_forbids_framing(client, ctx) -> None:
    login(client, UserFactory(roles=["admin"]))
    policy = client.get("/admin/").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
