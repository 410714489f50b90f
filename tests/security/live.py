"""A real threaded HTTP server around an app on a fresh database, and the few browser
steps the hostile tests need (CSRF token, password step), for firing parallel requests
(requests' sessions in threads, released together by a barrier)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import make_server

from tests.factories import PASSWORD


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """werkzeug's threaded server on a free port of the loopback; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(10)


def csrf(session: requests.Session, url: str) -> str:
    html = session.get(url, timeout=30).text
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, f"no CSRF token on {url}: {html[:300]}"
    return match.group(1)


def password_step(session: requests.Session, base: str, email: str,
                  password: str = PASSWORD) -> requests.Response:
    return session.post(f"{base}/connexion", data={
        "email": email, "password": password, "csrf_token": csrf(session, f"{base}/connexion")},
        allow_redirects=False, timeout=30)


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, all released at the same instant."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(run, c) for c in calls]]
