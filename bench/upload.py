"""A big upload through the real intake API served by gunicorn (one sync worker), beside
a plain `cp` of the same file: throughput and the worker's peak memory growth.

    python -m bench.upload [--size-mb 1024] [--output FILE]

Also measures the same bytes through bench/upload_direct.py, the prototype of the
proposed single-write upload path (docs/benchmarks.md, "Proposed changes"). The
database is a throw-away SQLite file: an upload writes two rows."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import measure

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(app: str, env: dict[str, str], log: Path,
                   workers: int = 1) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--timeout", "900", app], cwd=ROOT, env=env, stdout=log.open("wb"),
        stderr=subprocess.STDOUT)
    for _ in range(300):  # the master listens before its workers have imported the app
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/sante")
            ready = conn.getresponse().status < 500
            conn.close()
            if ready:
                break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"gunicorn did not start: {log.read_text()[-2000:]}")
    return process, port


def worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("no gunicorn worker")


def post_file(port: int, path: str, file: Path, fields: dict[str, str],
              headers: dict[str, str]) -> tuple[int, dict[str, Any], float]:
    """POST `file` as multipart, streamed from disk in 1 MiB chunks (the client holds
    one chunk in memory). Returns (status, JSON answer, seconds)."""
    boundary = f"bench{uuid.uuid4().hex}"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="{file.name}"\r\nContent-Type: application/pdf\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + file.stat().st_size + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    start = time.perf_counter()
    conn.putrequest("POST", path)
    for name, value in {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}",
                        "Content-Length": str(length)}.items():
        conn.putheader(name, value)
    conn.endheaders()
    try:
        conn.send(head)
        with file.open("rb") as f:
            while chunk := f.read(MB):
                conn.send(chunk)
        conn.send(tail)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered before the end of the body (a refusal): read it below
    response = conn.getresponse()
    body = response.read()
    seconds = time.perf_counter() - start
    conn.close()
    return response.status, json.loads(body or b"{}"), seconds


def api_json(port: int, method: str, path: str, token: str, payload: dict[str, Any]) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, body=json.dumps(payload),
                 headers={"Authorization": f"Bearer {token}",
                          "Content-Type": "application/json"})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {body}")
    return body


def measured_upload(server: subprocess.Popen, port: int, path: str, file: Path,
                    fields: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
    pid = worker_pid(server.pid)
    measure.reset_peak(pid)
    before = measure.rss(pid)
    status, answer, seconds = post_file(port, path, file, fields, headers)
    if status >= 300:
        raise RuntimeError(f"upload refused: {status} {answer}")
    size_mb = file.stat().st_size / MB
    return {"seconds": round(seconds, 2), "mb_per_s": round(size_mb / seconds, 1),
            "worker_rss_before_mb": round(before / MB, 1),
            "worker_peak_growth_mb": round((measure.peak_rss(pid) - before) / MB, 1),
            "answer_size": (answer.get("file") or answer).get("size")}


def api_token(database: str) -> str:
    """A migrated throw-away database with the démarches and one organisation's token."""
    from backoffice import create_app
    from backoffice.db import db
    from backoffice.models import Organisation
    from backoffice.seed import REFERENTIEL_JSON, ensure_demarches, new_api_token
    from backoffice.workflow.referentiels import load_json
    from bench.generate import SECRET_KEY, recreate_database

    recreate_database(database)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "SECRET_KEY": SECRET_KEY,
                      "REDIS_URL": None})
    with app.app_context():
        ensure_demarches()
        load_json(REFERENTIEL_JSON)  # the pièces justificatives
        organisation = Organisation(name="Éditeur du banc d'essai")
        token, raw = new_api_token(organisation, "bench")
        db.add_all([organisation, token])
        db.commit()
    app.extensions["db_engine"].dispose()
    return raw


NGINX_CONF = """
daemon off;
worker_processes 1;
user root;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {spool};
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        location /spooled {{
            client_max_body_size 0;
            client_body_in_file_only on;
            client_body_buffer_size 1m;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Body-File $request_body_file;
            proxy_read_timeout 900;
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"""


def start_nginx(work: Path, upstream: int, spool: Path) -> tuple[subprocess.Popen, int]:
    """nginx (Debian's) in front of `upstream`, spooling request bodies into `spool`."""
    port = free_port()
    spool.mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=work, spool=spool, port=port, upstream=upstream))
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)],  # noqa: S603, S607
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not start")


def put_file(port: int, path: str, file: Path) -> tuple[int, dict[str, Any], float]:
    """PUT `file` as the raw request body, streamed in 1 MiB chunks."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    start = time.perf_counter()
    conn.putrequest("PUT", path)
    conn.putheader("Content-Type", "application/pdf")
    conn.putheader("Content-Length", str(file.stat().st_size))
    conn.endheaders()
    with file.open("rb") as f:
        while chunk := f.read(MB):
            conn.send(chunk)
    response = conn.getresponse()
    body = response.read()
    seconds = time.perf_counter() - start
    conn.close()
    return response.status, json.loads(body or b"{}"), seconds


def copy_throughput(file: Path, work: Path) -> dict[str, Any]:
    target = work / "copy.bin"
    start = time.perf_counter()
    subprocess.run(["cp", str(file), str(target)], check=True)  # noqa: S603, S607
    subprocess.run(["sync", str(target)], check=True)  # noqa: S603, S607
    seconds = time.perf_counter() - start
    target.unlink()
    return {"seconds": round(seconds, 2), "mb_per_s": round(file.stat().st_size / MB / seconds, 1)}


def run(size_mb: int = 1024, work: Path | None = None) -> dict[str, Any]:
    own = work is None
    work = work or Path(tempfile.mkdtemp(prefix="bench-upload-"))
    servers: list[subprocess.Popen] = []
    try:
        instance = work / "instance"
        database = f"sqlite:///{instance / 'upload.sqlite3'}"
        env = {**os.environ, "INSTANCE_DIR": str(instance), "DATABASE_URL": database,
               "REDIS_URL": "", "UPLOAD_LIMITS_MB": f"piece={size_mb + 16}",
               "SECRET_KEY": "bench-only-secret-key", "PYTHONPATH": str(ROOT)}
        token = api_token(database)
        file = work / "big.pdf"
        with file.open("wb") as f:
            f.write(b"%PDF-1.4\n")
            block = b"\0" * MB
            for _ in range(size_mb):
                f.write(block)
        result: dict[str, Any] = {"size_mb": size_mb}
        result["cp"] = copy_throughput(file, work)

        server, port = start_gunicorn("backoffice:create_app()", env, work / "gunicorn.log")
        servers.append(server)
        auth = {"Authorization": f"Bearer {token}"}
        product = api_json(port, "POST", "/api/v1/products", token,
                           {"name": "Bench", "version": "v1", "type": "socle",
                            "responsable": "R"})
        candidature = api_json(port, "POST", "/api/v1/candidatures", token,
                               {"product_id": product["id"], "demarche": "dmn_nom_de_marque"})
        result["api"] = measured_upload(
            server, port, f"/api/v1/candidatures/{candidature['reference']}/pieces", file,
            {"type": "documentation_fonctionnelle"}, auth)

        direct, port = start_gunicorn(f"bench.upload_direct:create_app('{work / 'direct'}')",
                                      env, work / "direct.log")
        servers.append(direct)
        fields = {"type": "documentation_fonctionnelle"}
        result["direct_prototype"] = measured_upload(direct, port, "/upload", file, fields, {})
        result["direct_fast_prototype"] = measured_upload(direct, port, "/upload-fast", file,
                                                          fields, {})
        result["read_only"] = measured_upload(direct, port, "/discard", file, fields, {})
        names = ["api", "direct_prototype", "direct_fast_prototype", "read_only"]
        if shutil.which("nginx"):
            proxy, proxy_port = start_nginx(work, port, work / "direct" / "spool")
            servers.append(proxy)
            status, answer, seconds = put_file(proxy_port, "/spooled", file)
            if status >= 300:
                raise RuntimeError(f"spooled upload refused: {status} {answer}")
            result["proxy_spooled_prototype"] = {
                "seconds": round(seconds, 2), "mb_per_s": round(size_mb / seconds, 1),
                "answer_size": answer.get("size")}
            names.append("proxy_spooled_prototype")
        for name in names:
            result[name]["share_of_cp"] = round(
                result[name]["mb_per_s"] / result["cp"]["mb_per_s"], 2)
        return result
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        if own and not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        elif own:
            print(f"kept {work}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = run(args.size_mb)
    measure.report(result, args.output)


if __name__ == "__main__":
    main()
