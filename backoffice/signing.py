"""Signing ANS's documents (PAdES, pyHanko) with a configured key and certificate.

Production points SIGNING_KEY / SIGNING_CERT / SIGNING_CA at the real material. Set-up
(`seed-demo`, the tests) generates a demo CA and signing certificate under instance/signing,
never committed."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import io
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import current_app


class SigningUnavailable(RuntimeError):
    pass


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                         "Agence du Numérique en Santé (démonstration)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def generate_demo_material(folder: Path, *, rsa_key: bool = False) -> dict[str, str]:
    """A demo CA and a signing certificate it issued (EC P-256, or RSA 2048 as many
    production keys are), as PEM files."""
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
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_key \
        else ec.generate_private_key(ec.SECP256R1())
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


def _der(tag: int, body: bytes) -> bytes:
    """One DER element: tag, definite length, contents."""
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + body


@dataclass(frozen=True)
class _Container:
    """A PAdES B-B signature container (CMS SignedData) cut around its two variable parts:
    the document's digest (in the messageDigest signed attribute, fixed size) and the
    signature value (the last element of the only SignerInfo, the last element of
    SignedData). Everything else — certificates, signer identifier, algorithms,
    signing-certificate-v2 — is the same for every document signed with one key."""

    digest_algorithm: str
    digest_size: int
    content_type: bytes  # ContentInfo.contentType (id-signedData), encoded
    signed_data_head: bytes  # version, digestAlgorithms, encapContentInfo, certificates
    signer_info_head: bytes  # version, sid, digestAlgorithm
    attributes_head: bytes  # [0] IMPLICIT signedAttrs, up to the digest
    attributes_tail: bytes  # after the digest
    signature_algorithm: bytes

    @classmethod
    def cut(cls, sample: Any, marker: bytes, digest_algorithm: str) -> _Container:
        """From a container pyHanko built for `marker` (a random digest)."""
        signed_data = sample["content"]
        infos = signed_data["signer_infos"]
        if len(infos) != 1 or signed_data["crls"].native or infos[0]["unsigned_attrs"].native:
            raise ValueError("unexpected container shape")
        info = infos[0]
        attributes = info["signed_attrs"].dump()
        if attributes.count(marker) != 1:
            raise ValueError("the digest is not found once in the signed attributes")
        at = attributes.index(marker)
        return cls(
            digest_algorithm=digest_algorithm, digest_size=len(marker),
            content_type=sample["content_type"].dump(),
            signed_data_head=b"".join(signed_data[k].dump() for k in (
                "version", "digest_algorithms", "encap_content_info", "certificates")),
            signer_info_head=b"".join(info[k].dump() for k in (
                "version", "sid", "digest_algorithm")),
            attributes_head=attributes[:at], attributes_tail=attributes[at + len(marker):],
            signature_algorithm=info["signature_algorithm"].dump())

    def signed_attributes(self, digest: bytes) -> bytes:
        """The bytes the signature covers: the signed attributes as a SET (RFC 5652 5.4),
        the same contents as the [0] IMPLICIT field of the container."""
        return b"\x31" + self.attributes_head[1:] + digest + self.attributes_tail

    def assemble(self, digest: bytes, signature: bytes) -> bytes:
        info = _der(0x30, self.signer_info_head + self.attributes_head + digest
                    + self.attributes_tail + self.signature_algorithm + _der(0x04, signature))
        signed_data = _der(0x30, self.signed_data_head + _der(0x31, info))
        return _der(0x30, self.content_type + _der(0xA0, signed_data))


@functools.cache
def _pades_signer_class():
    from asn1crypto import cms
    from pyhanko.sign import signers

    class PadesSigner(signers.SimpleSigner):
        """pyHanko's SimpleSigner, whose CMS container for the signatures this application
        makes (PAdES B-B: no timestamp, no CAdES extras) is assembled from bytes prepared
        once per key: the first one is built by pyHanko for a random digest and cut around
        the digest and the signature value (`_Container`). asn1crypto re-encoded the whole
        container at each signature: 11 ms of pure Python out of 12 per certificate
        (docs/benchmarks.md). Any other kind of signature goes through pyHanko unchanged."""

        container: _Container | None = None

        async def async_sign(self, data_digest: bytes, digest_algorithm: str,
                             dry_run: bool = False, use_pades: bool = False,
                             timestamper: Any = None, signed_attr_settings: Any = None,
                             is_pdf_sig: bool = True, encap_content_info: Any = None) -> Any:
            plain = (use_pades and is_pdf_sig and not dry_run and timestamper is None
                     and encap_content_info is None
                     and getattr(signed_attr_settings, "cades_signed_attrs", None) is None)
            if not plain:
                return await super().async_sign(
                    data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
                    timestamper=timestamper, signed_attr_settings=signed_attr_settings,
                    is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)
            container = self.container
            if container is None or container.digest_algorithm != digest_algorithm:
                marker = secrets.token_bytes(len(data_digest))
                sample = await super().async_sign(
                    marker, digest_algorithm, use_pades=True,
                    signed_attr_settings=signed_attr_settings)
                container = self.container = _Container.cut(sample, marker, digest_algorithm)
            if len(data_digest) != container.digest_size:
                raise ValueError("digest size does not match the digest algorithm")
            signature = await self.async_sign_raw(
                container.signed_attributes(data_digest), digest_algorithm)
            return cms.ContentInfo.load(container.assemble(data_digest, signature))

    return PadesSigner


_signers: dict[tuple, Any] = {}
_signers_lock = threading.Lock()


def _signer():
    """The signer for the configured key, loaded once per version of its files (a key or
    certificate replaced on disk is read again)."""
    from pyhanko.sign import signers

    paths = material()
    if not Path(paths["SIGNING_KEY"]).exists():
        raise SigningUnavailable("Aucune clé de signature n'est configurée (SIGNING_KEY).")
    version = tuple((path, stat.st_mtime_ns, stat.st_size) for path, stat in (
        (paths[k], Path(paths[k]).stat()) for k in ("SIGNING_KEY", "SIGNING_CERT", "SIGNING_CA")))
    with _signers_lock:
        signer = _signers.get(version)
        if signer is None:
            loaded = signers.SimpleSigner.load(paths["SIGNING_KEY"], paths["SIGNING_CERT"],
                                               ca_chain_files=(paths["SIGNING_CA"],))
            if loaded is None:  # pyHanko logs why
                raise SigningUnavailable("La clé ou le certificat de signature est illisible.")
            signer = _pades_signer_class()(
                signing_cert=loaded.signing_cert, signing_key=loaded.signing_key,
                cert_registry=loaded.cert_registry,
                signature_mechanism=loaded.signature_mechanism, prefer_pss=loaded.prefer_pss)
            _signers.clear()
            _signers[version] = signer
    return signer


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
