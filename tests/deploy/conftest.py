"""The reference deployment, for real: gunicorn started as production starts it
(gunicorn.conf.py, backoffice.wsgi), nginx with deploy/nginx/convergence.conf (its paths,
ports and certificate substituted), TLS clients on the loopback. nginx is Debian's
nginx-light (/usr/sbin/nginx, installed by .ci/run)."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from config import BASE_DIR
from tests.conftest import missing_tier

REFERENCE = BASE_DIR / "deploy" / "nginx" / "convergence.conf"
NGINX = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")


def nginx_binary() -> str:
    found = NGINX if Path(NGINX).exists() else shutil.which("nginx")
    if not found:
        missing_tier("nginx is not installed (apt-get install nginx-light)")
    return str(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _substitute(text: str, old: str, new: str) -> str:
    assert old in text, f"the reference configuration no longer has {old!r}"
    return text.replace(old, new)


@dataclass
class NginxSetup:
    folder: Path
    main: Path
    https_port: int
    http_port: int
    access_log: Path
    error_log: Path


# The upload routes' locations in the reference configuration, per upload purpose
# (backoffice/uploads.py); one location serves both the UI's messages and the signed
# convention.
UPLOAD_LOCATIONS = {
    "zip": ["^/api/v1/candidatures/[^/]+/preuves-pour-avis$"],
    "preuve": ["^/api/v1/candidatures/[^/]+/sections/[^/]+/exigences/.+/preuves$"],
    "piece": ["^/api/v1/candidatures/[^/]+/pieces$"],
    "message": ["^/api/v1/candidatures/[^/]+/messages$",
                "^/instruction/candidatures/[^/]+/(messages|convention/signature)$"],
    "convention": ["^/instruction/candidatures/[^/]+/(messages|convention/signature)$"],
}


def with_upload_limits(text: str, upload_limits_mb: dict[str, int]) -> str:
    """The reference configuration for a deployment whose UPLOAD_LIMITS_MB differs from the
    defaults: each upload route's client_max_body_size derived as the reference derives it,
    the purpose's limit + 1 MB (room for the 64 KiB multipart envelope, MULTIPART_OVERHEAD).
    A location shared by two purposes gets the larger."""
    from backoffice.uploads import DEFAULT_LIMITS_MB

    limits = {**DEFAULT_LIMITS_MB, **upload_limits_mb}
    by_location: dict[str, int] = {}
    for purpose in upload_limits_mb:
        for location in UPLOAD_LOCATIONS[purpose]:
            by_location[location] = max(
                limits[p] for p, places in UPLOAD_LOCATIONS.items() if location in places)
    for location, mb in by_location.items():
        block = re.compile(r"(\n    location ~ " + re.escape(location)
                           + r" \{\n(?:(?!\n    \}).)*?client_max_body_size )\d+m;", re.S)
        text, found = block.subn(rf"\g<1>{mb + 1}m;", text)
        assert found == 1, f"the reference configuration no longer has {location!r}"
    return text


def render_reference(folder: Path, upstream_port: int, max_conns: int | None = None,
                     upload_limits_mb: dict[str, int] | None = None) -> NginxSetup:
    """deploy/nginx/convergence.conf with this test's paths and ports, inside a minimal
    main configuration (what Debian's /etc/nginx/nginx.conf gives); `max_conns`: the
    upstream's bound sized for the test's gunicorn instead of the reference's;
    `upload_limits_mb`: the upload routes' body limits for that UPLOAD_LIMITS_MB
    ({"piece": 1040}), as a deployment with those limits adapts them."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(folder / "tls")
    https_port, http_port = free_port(), free_port()
    text = REFERENCE.read_text()
    for old, new in (
        ("server 127.0.0.1:8000", f"server 127.0.0.1:{upstream_port}"),
        ("    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n"),
        ("    listen [::]:80;\n", ""),
        ("    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n"),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("/etc/ssl/convergence/fullchain.pem", str(cert)),
        ("/etc/ssl/convergence/privkey.pem", str(key)),
        ("/var/log/nginx/convergence-access.log", str(folder / "access.log")),
        ("/var/log/nginx/convergence-error.log", str(folder / "error.log")),
        ("/var/lib/nginx/convergence-body", str(folder / "body")),
        ("/srv/convergence/backoffice/static/", f"{BASE_DIR / 'backoffice' / 'static'}/"),
    ):
        text = _substitute(text, old, new)
    if max_conns is not None:
        text = re.sub(r"max_conns=\d+;", f"max_conns={max_conns};", text)
    if upload_limits_mb:
        text = with_upload_limits(text, upload_limits_mb)
    (folder / "convergence.conf").write_text(text)
    mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    user = "user root;" if os.geteuid() == 0 else ""  # workers must reach the test's folders
    main = folder / "nginx.conf"
    main.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/main-error.log warn;
events {{ worker_connections 1024; }}
http {{
    {mime}
    default_type application/octet-stream;
    proxy_temp_path {folder}/proxy-temp;
    fastcgi_temp_path {folder}/fastcgi-temp;
    uwsgi_temp_path {folder}/uwsgi-temp;
    scgi_temp_path {folder}/scgi-temp;
    client_body_temp_path {folder}/body-default;
    include {folder}/convergence.conf;
}}
""")
    return NginxSetup(folder, main, https_port, http_port, folder / "access.log",
                      folder / "error.log")


def wait_for_port(port: int, process: subprocess.Popen, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Gunicorn:
    process: subprocess.Popen
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def gunicorn_environment(tmp: Path, database_url: str, **extra: str) -> dict[str, str]:
    storage = tmp / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "INSTANCE_DIR": str(tmp / "instance"), "DATABASE_URL": database_url,
            "STORAGE_DIR": str(storage), "SECRET_KEY": "deploy-test-" + "k" * 40,
            "REDIS_URL": "", "PYTHONPATH": str(BASE_DIR), **extra}


def start_gunicorn(tmp: Path, env: dict[str, str], *extra_args: str,
                   app: str = "backoffice.wsgi:app") -> Gunicorn:
    """`gunicorn --config gunicorn.conf.py backoffice.wsgi:app`, as the systemd unit runs it
    (`app`: another entry point, for a test's own routes)."""
    port = free_port()
    log = tmp / f"gunicorn-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", *extra_args, app],
            cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, "gunicorn", seconds=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the port answers before the workers booted
            try:
                if plain_get(port, "/sante").status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
    except Exception:
        stop(process)
        raise
    return Gunicorn(process, port, log, env)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def _answer(conn: http.client.HTTPConnection, method: str, path: str,
            headers: dict[str, str] | None, body: bytes | None) -> Answer:
    start = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    seconds = time.perf_counter() - start
    conn.close()
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                  seconds)


def plain_get(port: int, path: str, *, timeout: float = 10,
              headers: dict[str, str] | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    return _answer(conn, "GET", path, headers, None)


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    return context


def https(port: int, method: str, path: str, *, source: str = "127.0.0.1",
          headers: dict[str, str] | None = None, body: bytes | None = None,
          timeout: float = 10) -> Answer:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                       context=tls_context(), source_address=(source, 0))
    return _answer(conn, method, path, headers, body)


class SlowClient:
    """Announces a body of `size` bytes and sends it a few bytes at a time."""

    def __init__(self, port: int, path: str, *, size: int = 900_000, source: str = "127.0.0.1",
                 tls: bool = True, headers: dict[str, str] | None = None) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10,
                                       source_address=(source, 0))
        self.sock = tls_context().wrap_socket(raw, server_hostname="localhost") if tls else raw
        lines = [f"POST {path} HTTP/1.1", "Host: localhost", f"Content-Length: {size}",
                 "Content-Type: application/x-www-form-urlencoded",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"email=")

    def trickle(self) -> None:
        self.sock.sendall(b"a")

    def answer_now(self, wait: float = 0.2) -> bytes | None:
        """What the server answered already (None: nothing yet, the connection held)."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(65536)
        except (TimeoutError, ssl.SSLWantReadError):
            return None
        except OSError:
            return b""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@pytest.fixture
def clients() -> Iterator[list[SlowClient]]:
    held: list[SlowClient] = []
    yield held
    for client in held:
        client.close()
