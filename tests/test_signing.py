"""The signature container assembled from prepared bytes (`signing.PadesSigner`) is the one
pyHanko builds, byte for byte except the signature value; it verifies, for EC and RSA keys;
any other kind of signature still goes through pyHanko; a key replaced on disk is used."""

from __future__ import annotations

import asyncio
import hashlib
import io

import pytest
from asn1crypto import cms, pem, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.ades.api import CAdESSignedAttrSpec
from pyhanko.sign.ades.cades_asn1 import CommitmentTypeIndication
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from backoffice import create_app, signing
from backoffice.demo_files import one_page_pdf
from tests.conftest import base_config

# every field of the container but the signature value
SIGNED_DATA_FIELDS = ("version", "digest_algorithms", "encap_content_info", "certificates",
                      "crls")
SIGNER_INFO_FIELDS = ("version", "sid", "digest_algorithm", "signed_attrs",
                      "signature_algorithm", "unsigned_attrs")


@pytest.fixture(params=["ec", "rsa"])
def keyed_app(request, tmp_path):
    material = signing.generate_demo_material(tmp_path / "keys",
                                              rsa_key=request.param == "rsa")
    app = create_app({**base_config(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}"),
                      **material})
    with app.app_context():
        yield app


def _sign(signer, digest: bytes, **kwargs):
    return asyncio.run(signer.async_sign(digest, "sha256", use_pades=True, **kwargs))


def _pyhanko(signer, digest: bytes, **kwargs):
    """The container pyHanko itself builds with the same key."""
    return asyncio.run(signers.SimpleSigner.async_sign(signer, digest, "sha256",
                                                       use_pades=True, **kwargs))


def _signer_certificate(container: cms.ContentInfo) -> x509.Certificate:
    serial = container["content"]["signer_infos"][0]["sid"].chosen["serial_number"].native
    return next(c.chosen for c in container["content"]["certificates"]
                if c.chosen.serial_number == serial)


def _valid(container: cms.ContentInfo, signed: bytes) -> bool:
    """Whether the container's signature value signs `signed`, with its certificate's key."""
    info = container["content"]["signer_infos"][0]
    key = serialization.load_der_public_key(_signer_certificate(container).public_key.dump())
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(info["signature"].native, signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey)
            key.verify(info["signature"].native, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _signed_attributes(container: cms.ContentInfo) -> tuple[bytes, bytes]:
    """The signed attributes as the signature covers them (a SET, RFC 5652 5.4), and the
    message digest they hold."""
    attributes = container["content"]["signer_infos"][0]["signed_attrs"]
    digest = next(a["values"][0].native for a in attributes
                  if a["type"].native == "message_digest")
    return b"\x31" + attributes.dump()[1:], digest


def _verifies(container: cms.ContentInfo, digest: bytes) -> bool:
    signed, held = _signed_attributes(container)
    return held == digest and _valid(container, signed)


def test_the_assembled_container_is_pyhankos_own(keyed_app) -> None:
    signer = signing._signer()
    for document in (b"first document", b"second document"):  # prepared, then reused
        digest = hashlib.sha256(document).digest()
        ours, theirs = _sign(signer, digest), _pyhanko(signer, digest)
        assert signer.container is not None
        assert ours["content_type"].dump() == theirs["content_type"].dump()
        for field in SIGNED_DATA_FIELDS:
            assert ours["content"][field].dump() == theirs["content"][field].dump(), field
        assert len(ours["content"]["signer_infos"]) == 1
        mine, reference = ours["content"]["signer_infos"][0], theirs["content"]["signer_infos"][0]
        for field in SIGNER_INFO_FIELDS:
            assert mine[field].dump() == reference[field].dump(), field
        assert _verifies(ours, digest) and _verifies(theirs, digest)
        # the bytes as written into the PDF parse back to the same structure
        assert cms.ContentInfo.load(ours.dump()).native == ours.native


def test_a_signature_over_another_digest_does_not_verify(keyed_app) -> None:
    """The check above can fail: the same container with another digest spliced in."""
    container = _sign(signing._signer(), hashlib.sha256(b"a").digest())
    signed, digest = _signed_attributes(container)
    assert _valid(container, signed)
    assert not _valid(container, signed.replace(digest, hashlib.sha256(b"b").digest()))


def test_signed_pdf_validates(keyed_app) -> None:
    signed = signing.sign_pdf(one_page_pdf("Certificat"), reason="Délivrance")
    signed_again = signing.sign_pdf(one_page_pdf("Autre certificat"), reason="Délivrance")
    with open(keyed_app.config["SIGNING_CA"], "rb") as handle:
        root = x509.Certificate.load(pem.unarmor(handle.read())[2])
    for document in (signed, signed_again):
        signature = PdfFileReader(io.BytesIO(document)).embedded_signatures[0]
        status = validate_pdf_signature(signature, ValidationContext(trust_roots=[root]))
        assert status.bottom_line, status.summary()
        assert status.intact and status.trusted and status.coverage.name == "ENTIRE_FILE"
        assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
        # PAdES: no signing-time attribute in the container (the time is in /M)
        assert "signing_time" not in {a["type"].native for a in
                                      signature.signer_info["signed_attrs"]}


def test_other_signatures_still_go_through_pyhanko(keyed_app) -> None:
    """A CAdES commitment type is not part of the prepared container: pyHanko builds that
    signature, with the attribute."""
    signer = signing._signer()
    digest = hashlib.sha256(b"document").digest()
    settings = PdfCMSSignedAttributes(cades_signed_attrs=CAdESSignedAttrSpec(
        commitment_type=CommitmentTypeIndication({"commitment_type_id": "proof_of_origin"})))
    container = _sign(signer, digest, signed_attr_settings=settings)
    types = {a["type"].native for a in container["content"]["signer_infos"][0]["signed_attrs"]}
    assert "commitment_type" in types
    assert _verifies(container, digest)
    plain = _sign(signer, digest)
    assert "commitment_type" not in {
        a["type"].native for a in plain["content"]["signer_infos"][0]["signed_attrs"]}


def test_a_key_replaced_on_disk_is_used(keyed_app, tmp_path) -> None:
    def signing_certificate() -> bytes:
        return _signer_certificate(_sign(signing._signer(), hashlib.sha256(b"x").digest())).dump()

    before = signing_certificate()
    assert signing_certificate() == before  # kept between signatures
    replacement = signing.generate_demo_material(tmp_path / "new")
    for name in ("SIGNING_KEY", "SIGNING_CERT", "SIGNING_CA"):
        with open(replacement[name], "rb") as source, open(keyed_app.config[name], "wb") as out:
            out.write(source.read())
    with open(keyed_app.config["SIGNING_CERT"], "rb") as handle:
        expected = pem.unarmor(handle.read())[2]
    assert signing_certificate() == expected != before
