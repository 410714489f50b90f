"""The production install: the wheel carries everything the application needs (templates,
static files, migrations, reference data, config), and the runtime dependencies pinned
with their hashes (requirements/production.txt) are enough to run it. The wheel is built,
installed into a fresh venv with `pip install --require-hashes` then `--no-deps`, and run
from a folder outside the source tree: `flask init-db`, then gunicorn serving /sante, a
page and a static file."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "production.txt"
TEST_AND_DEV = ("pytest", "factory", "playwright", "schemathesis", "ruff", "bandit",
                "pip_audit", "piptools", "matplotlib")

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: int = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout, check=False)
    assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, response.read()


def test_the_lock_pins_every_runtime_dependency_with_hashes_and_no_test_tool() -> None:
    lines = LOCK.read_text().splitlines()
    pins = [line.split("==")[0].lower() for line in lines if "==" in line]
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0].lower() for d in declared}
    assert names <= set(pins), names - set(pins)  # `make lock` after a new dependency
    assert not {"pytest", "playwright", "ruff", "bandit", "pip-audit", "pip-tools",
                "factory-boy", "schemathesis"} & set(pins)
    requirements = [line for line in lines if "==" in line]
    assert all(line.rstrip().endswith("\\") for line in requirements)  # a hash follows


def test_the_wheel_installed_outside_the_source_tree_sets_up_a_database_and_serves(tmp_path) -> None:  # noqa: E501
    wheels, venv, site = tmp_path / "wheels", tmp_path / "venv", tmp_path / "site"
    site.mkdir()
    # from a clean copy: setuptools' build/ folder keeps files deleted since a past build
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "*.egg-info", "instance", "test-results", "__pycache__",
        "node_modules", "tests"))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, source,
        cwd=tmp_path)
    (wheel,) = wheels.glob("convergence_backoffice-*.whl")
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", LOCK, cwd=tmp_path)
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", wheel, cwd=tmp_path)

    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "REDIS_URL", "DATABASE_URL")}
    env.update(DATABASE_URL=f"sqlite:///{site / 'backoffice.sqlite3'}",
               INSTANCE_DIR=str(site / "instance"), STORAGE_DIR=str(site / "storage"))
    # every module imports with the runtime dependencies alone, from the venv
    modules = run(python, "-c", (
        "import importlib, pkgutil, sys, backoffice, jobs, config\n"
        "for pkg in (backoffice, jobs):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if '.static' not in m.name: importlib.import_module(m.name)\n"
        "print(backoffice.__file__); print(config.BASE_DIR)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {TEST_AND_DEV!r}))\n"),
        cwd=site, env=env)
    package_file, base_dir, imported = modules.stdout.strip().splitlines()
    assert package_file.startswith(str(venv)) and base_dir.startswith(str(venv))
    assert imported == "[]"

    init = run(venv / "bin" / "flask", "--app", "backoffice", "init-db", cwd=site, env=env)
    assert "Schéma : créé (révision" in init.stdout, init.stdout
    assert "Données de référence : créé(s) : 5 démarche(s)" in init.stdout

    port = free_port()
    server = subprocess.Popen(
        [str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "backoffice:create_app()"], cwd=site, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = get(f"{base}/sante")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.3)
        assert status == 200 and b'"ok"' in body
        status, page = get(f"{base}/connexion")  # a template of the wheel
        assert status == 200 and b"Connexion" in page
        status, css = get(f"{base}/static/dsfr/dsfr.min.css")  # a static file of the wheel
        assert status == 200 and len(css) > 100_000
    finally:
        server.terminate()
        server.wait(timeout=30)
