"""A big upload through the real intake API served by gunicorn (one sync worker), beside
a plain `cp` of the same file: throughput and the worker's peak memory growth.

    python -m bench.upload [--size-mb 1024] [--output FILE]

The same upload is measured twice: straight at gunicorn (`api`), and through the
reference nginx configuration (deploy/nginx/convergence.conf, rendered by
tests/deploy/conftest.py as the deployment tests render it, its pièce route's body limit
adapted to the bench's UPLOAD_LIMITS_MB as a deployment would), over TLS, nginx spooling the
body before gunicorn reads it (`api_reference_proxy`, docs/benchmarks/upload-proxy.md).

Also measures the same bytes through bench/upload_direct.py, the prototype of the
proposed single-write upload path (docs/benchmarks.md, "Proposed changes"), and the
raw-body prototype behind a minimal nginx of its own (not the product). The database is a
throw-away SQLite file: an upload writes two rows."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
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
              headers: dict[str, str], tls: ssl.SSLContext | None = None
              ) -> tuple[int, dict[str, Any], float]:
    """POST `file` as multipart, streamed from disk in 1 MiB chunks (the client holds
    one chunk in memory), over TLS if `tls` is given. Returns (status, JSON answer,
    seconds from the connection to the last byte of the answer)."""
    boundary = f"bench{uuid.uuid4().hex}"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="{file.name}"\r\nContent-Type: application/pdf\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + file.stat().st_size + len(tail)
    start = time.perf_counter()
    conn = (http.client.HTTPSConnection("127.0.0.1", port, timeout=900, context=tls) if tls
            else http.client.HTTPConnection("127.0.0.1", port, timeout=900))
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


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def measured_upload(server: subprocess.Popen, port: int, path: str, file: Path,
                    fields: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
    pid = worker_pid(server.pid)
    measure.reset_peak(pid)
    before = measure.rss(pid)
    load_before = loadavg()
    status, answer, seconds = post_file(port, path, file, fields, headers)
    load_after = loadavg()
    if status >= 300:
        raise RuntimeError(f"upload refused: {status} {answer}")
    size_mb = file.stat().st_size / MB
    return {"seconds": round(seconds, 2), "mb_per_s": round(size_mb / seconds, 1),
            "worker_rss_before_mb": round(before / MB, 1),
            "worker_peak_growth_mb": round((measure.peak_rss(pid) - before) / MB, 1),
            "answer_size": (answer.get("file") or answer).get("size"),
            "loadavg_before": load_before, "loadavg_after": load_after}


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process, all its threads (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SpoolWatch(threading.Thread):
    """Polls nginx's client_body_temp_path during an upload: the largest number of bytes it
    held at once, and what it holds afterwards. nginx unlinks a spooled body as soon as it
    has created it (the file lives on through nginx's open descriptor, and its blocks are
    freed when nginx closes it): the spool is found through the nginx worker's open
    files, as well as in the folder."""

    def __init__(self, folder: Path, nginx_pid: int, full: int, interval: float = 0.05
                 ) -> None:
        super().__init__(daemon=True)
        self.folder, self.nginx_pid, self.full, self.interval = folder, nginx_pid, full, interval
        self.peak = 0
        self.full_at: float | None = None  # when the spool first held `full` bytes
        self.stopped = threading.Event()

    def files(self) -> list[Path]:
        """The spool's files: those in its folder, and those nginx holds open there."""
        found = [Path(top) / name for top, _dirs, names in os.walk(self.folder)
                 for name in names]
        for fd in Path(f"/proc/{self.nginx_pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd).startswith(f"{self.folder}/"):
                    found.append(fd)
        return found

    def held(self) -> int:
        total = 0
        for path in self.files():
            with contextlib.suppress(OSError):  # closed or removed meanwhile
                total += path.stat().st_size
        return total

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            held = self.held()
            self.peak = max(self.peak, held)
            if held >= self.full and self.full_at is None:
                self.full_at = time.perf_counter()

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def start_reference_proxy(work: Path, upstream: int, upload_limits_mb: dict[str, int]
                          ) -> tuple[subprocess.Popen, Any]:
    """nginx with the reference configuration (deploy/nginx/convergence.conf), rendered
    as the deployment tests render it (tests/deploy/conftest.py: ports, paths, a
    self-signed certificate), in front of gunicorn on `upstream`; the upload routes' body
    limits those of `upload_limits_mb` (UPLOAD_LIMITS_MB), as a deployment adapts them."""
    from tests.deploy.conftest import render_reference, wait_for_port

    setup = render_reference(work / "nginx-reference", upstream_port=upstream,
                             upload_limits_mb=upload_limits_mb)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    errors = work / "nginx-reference-stderr.log"
    with errors.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [nginx, "-c", str(setup.main), "-p", str(setup.folder)],
            stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for_port(setup.https_port, process, "nginx")
    except RuntimeError as exc:
        process.kill()
        raise RuntimeError(f"{exc}: {errors.read_text()[-2000:]}") from exc
    return process, setup


def access_line(log: Path, path: str, seconds: float = 5) -> dict[str, Any]:
    """nginx's access-log line (the reference's JSON format) of the last request to
    `path`; it is written once the answer is sent."""
    deadline = time.monotonic() + seconds
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines()
                 if line.startswith("{")] if log.exists() else []
        found = [line for line in lines if line["path"] == path]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if not found:
        raise RuntimeError(f"no nginx access line for {path}")
    return found[-1]


def proxied_upload(server: subprocess.Popen, proxy: subprocess.Popen, setup: Any, path: str,
                   file: Path, fields: dict[str, str], headers: dict[str, str]
                   ) -> dict[str, Any]:
    """The upload through the reference nginx (HTTPS): the client's throughput over the
    whole request, the gunicorn worker's and the nginx worker's peak RSS growth, where
    nginx's time went (its access log: receiving the body into the spool, then the
    upstream's part: passing it to gunicorn and waiting for the answer), and the spool."""
    from tests.deploy.conftest import tls_context

    pid, nginx_pid = worker_pid(server.pid), worker_pid(proxy.pid)
    for process in (pid, nginx_pid):
        measure.reset_peak(process)
    before, nginx_before = measure.rss(pid), measure.rss(nginx_pid)
    spool = SpoolWatch(setup.folder / "body", nginx_pid, full=file.stat().st_size)
    load_before = loadavg()
    cpu_before = {name: cpu_seconds(p) for name, p in
                  (("client", "self"), ("nginx_worker", nginx_pid), ("gunicorn_worker", pid))}
    spool.start()
    started = time.perf_counter()
    try:
        status, answer, seconds = post_file(setup.https_port, path, file, fields, headers,
                                            tls=tls_context())
    finally:
        spool.stop()
    cpu = {name: round(cpu_seconds(p) - cpu_before[name], 2) for name, p in
           (("client", "self"), ("nginx_worker", nginx_pid), ("gunicorn_worker", pid))}
    load_after = loadavg()
    if status >= 300:
        raise RuntimeError(f"upload through nginx refused: {status} {answer}")
    line = access_line(setup.access_log, path)
    deadline = time.monotonic() + 5  # nginx removes the spooled body as it frees the request
    while (left := spool.files()) and time.monotonic() < deadline:
        time.sleep(0.05)
    upstream = float(str(line["upstream_s"]).split(",")[-1].strip() or 0)
    receive = spool.full_at - started if spool.full_at is not None else None
    size_mb = file.stat().st_size / MB
    return {"seconds": round(seconds, 2), "mb_per_s": round(size_mb / seconds, 1),
            "worker_rss_before_mb": round(before / MB, 1),
            "worker_peak_growth_mb": round((measure.peak_rss(pid) - before) / MB, 1),
            "nginx_worker_peak_growth_mb": round(
                (measure.peak_rss(nginx_pid) - nginx_before) / MB, 1),
            # the two phases as the spool shows them (±0.05 s): until nginx has the whole
            # body, then gunicorn's part; nginx's own split ($request_time minus
            # $upstream_response_time) undercounts the first when nginx is busy (its clock
            # is updated between event loop rounds)
            "receive_s": receive and round(receive, 2),
            "upstream_s": receive and round(seconds - receive, 2),
            "nginx_request_s": line["duration_s"], "nginx_upstream_s": upstream,
            "nginx_receive_s": round(line["duration_s"] - upstream, 3),
            "nginx_status": line["status"],
            "cpu_s": cpu,
            "spool_peak_mb": round(spool.peak / MB, 1),
            "spool_files_left": len(left),
            "answer_size": (answer.get("file") or answer).get("size"),
            "loadavg_before": load_before, "loadavg_after": load_after}


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
        limits_mb = {"piece": size_mb + 16}
        env = {**os.environ, "INSTANCE_DIR": str(instance), "DATABASE_URL": database,
               "REDIS_URL": "", "UPLOAD_LIMITS_MB": f"piece={limits_mb['piece']}",
               "SECRET_KEY": "bench-only-secret-key", "PYTHONPATH": str(ROOT)}
        token = api_token(database)
        file = work / "big.pdf"
        with file.open("wb") as f:
            f.write(b"%PDF-1.4\n")
            block = b"\0" * MB
            for _ in range(size_mb):
                f.write(block)
        result: dict[str, Any] = {"size_mb": size_mb, "loadavg_before": loadavg()}
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
        names = ["api"]

        if shutil.which("nginx"):
            # the same request through the reference nginx, to a gunicorn (1 worker, as
            # above) that believes one proxy, as production does behind it
            proxied, proxied_port = start_gunicorn(
                "backoffice:create_app()", {**env, "TRUSTED_PROXIES": "1"},
                work / "gunicorn-proxied.log")
            servers.append(proxied)
            proxy, setup = start_reference_proxy(work, proxied_port, limits_mb)
            servers.append(proxy)
            candidature = api_json(port, "POST", "/api/v1/candidatures", token,
                                   {"product_id": product["id"],
                                    "demarche": "dmn_nom_de_marque"})
            result["api_reference_proxy"] = proxied_upload(
                proxied, proxy, setup,
                f"/api/v1/candidatures/{candidature['reference']}/pieces", file,
                {"type": "documentation_fonctionnelle"}, auth)
            limit = re.search(r"pieces\$ \{.*?client_max_body_size (\w+);",
                              (setup.folder / "convergence.conf").read_text(), re.S)
            result["api_reference_proxy"]["piece_body_limit"] = limit and limit.group(1)
            names.append("api_reference_proxy")

        direct, port = start_gunicorn(f"bench.upload_direct:create_app('{work / 'direct'}')",
                                      env, work / "direct.log")
        servers.append(direct)
        fields = {"type": "documentation_fonctionnelle"}
        result["direct_prototype"] = measured_upload(direct, port, "/upload", file, fields, {})
        result["direct_fast_prototype"] = measured_upload(direct, port, "/upload-fast", file,
                                                          fields, {})
        result["read_only"] = measured_upload(direct, port, "/discard", file, fields, {})
        names += ["direct_prototype", "direct_fast_prototype", "read_only"]
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
        result["loadavg_after"] = loadavg()
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
