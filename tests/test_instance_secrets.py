"""Embedded mode's generated secrets: processes starting at once (`make db` twice, gunicorn
workers) all read the same complete secret."""

from __future__ import annotations

import subprocess
import sys

from config import BASE_DIR


def test_processes_starting_at_once_share_one_complete_secret(tmp_path) -> None:
    code = "import config; print(config._instance_secret('secret_key'))"
    env = {"INSTANCE_DIR": str(tmp_path / "instance"), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(BASE_DIR)}
    processes = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=BASE_DIR,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(8)]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _, err in outputs]
    secrets_read = {out.strip() for out, _ in outputs}
    assert len(secrets_read) == 1
    [secret] = secrets_read
    assert len(secret) >= 60
    assert (tmp_path / "instance" / "secret_key").read_text().strip() == secret
    assert [p.name for p in (tmp_path / "instance").iterdir()] == ["secret_key"]  # no draft left
