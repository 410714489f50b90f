"""Settings that pass the production start-up checks (backoffice/settings_check.py), for
tests that start the application as production would: non-demo signing material, secrets
from the environment, an https public address, a mail server, a storage folder outside
the source tree."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def signing_material(folder: Path, *, organisation: str = "Agence du Numérique en Santé",
                     expired: bool = False) -> dict[str, str]:
    """A CA and a signing certificate it issued, as ANS's own would look (not the demo
    material of backoffice/signing.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("AC de test des tests", organisation)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=10))
          .not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    end = now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=365)
    cert = (x509.CertificateBuilder().subject_name(_name("Signature des certificats",
                                                         organisation))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=5)).not_valid_after(end)
            .sign(ca_key, hashes.SHA256()))
    paths = {"SIGNING_KEY": folder / "key.pem", "SIGNING_CERT": folder / "cert.pem",
             "SIGNING_CA": folder / "ca.pem"}
    paths["SIGNING_KEY"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    paths["SIGNING_CERT"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["SIGNING_CA"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return {name: str(path) for name, path in paths.items()}


def production_environment(tmp: Path, database_url: str) -> dict[str, str]:
    """Environment variables of a production that may start."""
    storage = tmp / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    return {
        "BACKOFFICE_ENV": "production",
        "DATABASE_URL": database_url,
        "INSTANCE_DIR": str(tmp / "instance"),
        "STORAGE_DIR": str(storage),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "TOTP_ENCRYPTION_KEY": secrets.token_urlsafe(48),
        "AUDIT_HMAC_KEY": secrets.token_urlsafe(48),
        "PUBLIC_BASE_URL": "https://backoffice.ans.example",
        "MAIL_SERVER": "smtp.ans.example.fr",
        "MAIL_DEFAULT_SENDER": "Convergence <ne-pas-repondre@esante.gouv.fr>",
        **signing_material(tmp / "signing"),
    }


APPLICATION_ROLE = "backoffice_test_app"


def application_role_url(url: str) -> str:
    """The URL production's web and workers would use for this database: on PostgreSQL, the
    application's role (`flask roles-bd`, run here as the tests' superuser, the owner of
    the tables), which does not own the audit table — the start-up checks refuse the
    owner. SQLite has no roles: the URL is returned as it is."""
    from sqlalchemy import make_url

    from backoffice.db import make_engine
    from backoffice.dbroles import ensure_app_role
    from config import normalise_database_url

    url = normalise_database_url(url)
    if not url.startswith("postgresql"):
        return url
    engine = make_engine(url)
    try:
        ensure_app_role(engine, APPLICATION_ROLE)
    finally:
        engine.dispose()
    return make_url(url).set(username=APPLICATION_ROLE, password=None).render_as_string(
        hide_password=False)
