"""A real SMTP server for the tests (aiosmtpd, in a thread): plain, STARTTLS or SMTPS,
presenting certificates made here; it keeps what it received and counts connections."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Certificate:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey) -> Certificate:
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Certificate(cert_path, key_path)


def _build(subject: str, names: list[str], issuer: x509.Name, issuer_key,
           key: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    if names:
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_ca(folder: Path, name: str = "Autorite de test") -> tuple[Certificate, x509.Certificate,
                                                                   ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build(name, [], _name(name), key, key, ca=True)
    return _write(folder, "ca", cert, key), cert, key


def issue(folder: Path, stem: str, names: list[str], ca: x509.Certificate,
          ca_key: ec.EllipticCurvePrivateKey) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return _write(folder, stem, _build(names[0], names, ca.subject, ca_key, key, ca=False), key)


def self_signed(folder: Path, stem: str, names: list[str]) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return _write(folder, stem, _build(names[0], names, _name(names[0]), key, key, ca=False),
                  key)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, _server, _session, envelope, address, _options) -> str:
        if address in self.server.refuse:
            return "550 5.1.1 Destinataire inconnu"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server, _session, envelope) -> str:
        if self.server.delay:
            time.sleep(self.server.delay)  # a slow relay: senders overlap
        with self.server.lock:
            self.server.received.append(message_from_bytes(envelope.content, policy=default))
        return "250 Message accepted for delivery"


class _CountingController(Controller):
    def __init__(self, smtp_server: SmtpServer, **kwargs) -> None:
        self.smtp_server = smtp_server
        super().__init__(_Handler(smtp_server), **kwargs)

    def factory(self) -> SMTP:
        with self.smtp_server.lock:
            self.smtp_server.connections += 1
        return super().factory()


class SmtpServer:
    """mode: "plain", "starttls" (STARTTLS required before MAIL) or "smtps"."""

    def __init__(self, port: int, *, mode: str = "plain", certificate: Certificate | None = None,
                 delay: float = 0.0, refuse: set[str] | None = None) -> None:
        self.port, self.mode, self.delay = port, mode, delay
        self.refuse = refuse or set()
        self.received: list[EmailMessage] = []
        self.connections = 0
        self.lock = threading.Lock()
        kwargs: dict = {"hostname": "127.0.0.1", "port": port}
        if mode != "plain":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(certificate.cert), str(certificate.key))
            if mode == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        self.controller = _CountingController(self, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        with self.lock:  # start() connects once to check the server is up
            self.connections = 0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()
