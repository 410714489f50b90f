"""Signing ANS's documents (PAdES, pyHanko) with a configured key and certificate.

Production points SIGNING_KEY / SIGNING_CERT / SIGNING_CA at the real material. Set-up
(`seed-demo`, the tests) generates a demo CA and signing certificate under instance/signing,
never committed."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import current_app


class SigningUnavailable(RuntimeError):
    pass


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                         "Agence du Numérique en Santé (démonstration)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def generate_demo_material(folder: Path) -> dict[str, str]:
    """A demo CA and a signing certificate it issued (EC P-256), as PEM files."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name("AC de démonstration ANS"))
               .issuer_name(_name("AC de démonstration ANS")).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False,
                                            decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("Convergence — certificats"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"SIGNING_KEY": folder / "signing-key.pem", "SIGNING_CERT": folder / "signing.pem",
             "SIGNING_CA": folder / "ca.pem"}
    paths["SIGNING_KEY"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    paths["SIGNING_KEY"].chmod(0o600)
    paths["SIGNING_CERT"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["SIGNING_CA"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return {k: str(v) for k, v in paths.items()}


def ensure_demo_material() -> None:
    """Generate demo signing material under instance/signing if none is configured."""
    if current_app.config.get("SIGNING_KEY"):
        return
    folder = Path(current_app.config["INSTANCE_DIR"]) / "signing"
    if not (folder / "signing-key.pem").exists():
        generate_demo_material(folder)


def material() -> dict[str, str]:
    """The configured PEM files, else the demo ones generated under instance/signing."""
    config = current_app.config
    if config.get("SIGNING_KEY"):
        return {k: config[k] for k in ("SIGNING_KEY", "SIGNING_CERT", "SIGNING_CA")}
    folder = Path(config["INSTANCE_DIR"]) / "signing"
    return {"SIGNING_KEY": str(folder / "signing-key.pem"),
            "SIGNING_CERT": str(folder / "signing.pem"), "SIGNING_CA": str(folder / "ca.pem")}


def _signer():  # noqa: ANN202
    from pyhanko.sign import signers

    paths = material()
    if not Path(paths["SIGNING_KEY"]).exists():
        raise SigningUnavailable("Aucune clé de signature n'est configurée (SIGNING_KEY).")
    return signers.SimpleSigner.load(paths["SIGNING_KEY"], paths["SIGNING_CERT"],
                                     ca_chain_files=(paths["SIGNING_CA"],))


def sign_pdf(pdf: bytes, *, reason: str) -> bytes:
    """A PAdES baseline signature (B-B) over the whole document."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(
        field_name="SignatureANS", md_algorithm="sha256", reason=reason,
        location="Paris", name="Agence du Numérique en Santé",
        subfilter=fields.SigSeedSubFilter.PADES)
    signer = _signer()  # read here: the configuration lives in this thread's app context

    def sign() -> bytes:
        # told how much room to keep for the signature, pyHanko signs once (otherwise it
        # signs a first time only to measure it): 16 kB is ample for RSA/ECDSA and a chain
        return signers.sign_pdf(writer, meta, signer=signer, bytes_reserved=16384).getvalue()

    # pyHanko runs its own event loop (asyncio.run), which cannot start in a thread that
    # already runs one (an async server, a test browser driver): sign in another thread
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return sign()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(sign).result()
