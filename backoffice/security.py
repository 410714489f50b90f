"""Security headers on every response (OWASP ASVS 5.0 V3.4): a Content-Security-Policy
without inline scripts for the DSFR pages, HSTS, no framing, nosniff, a strict referrer
policy. The Flask-Admin area keeps inline scripts (its templates use inline handlers): it is
admins only, same-origin, and CSRF-protected; documented in docs/security.md."""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request

STRICT = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
          "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
          "connect-src 'self'; object-src 'none'; frame-src 'self'; frame-ancestors 'none'; "
          "base-uri 'self'; form-action 'self'")
ADMIN = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
         "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
         "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        if "Content-Security-Policy" not in headers:  # file previews set their own
            policy = ADMIN if request.path.startswith("/admin") else STRICT
            headers["Content-Security-Policy"] = policy.format(nonce=csp_nonce())
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response
