"""deploy/convergence.env.example: what an operator copies to /etc/convergence/ and what
README's production block sources (`set -a; . file`) — it must parse in a shell as in
systemd, and name every setting the start-up checks require."""

from __future__ import annotations

import subprocess

from config import BASE_DIR

TEMPLATE = BASE_DIR / "deploy" / "convergence.env.example"
REQUIRED = ("BACKOFFICE_ENV", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TOTP_ENCRYPTION_KEY",
            "AUDIT_HMAC_KEY", "PUBLIC_BASE_URL", "SIGNING_KEY", "SIGNING_CERT", "SIGNING_CA",
            "MAIL_SERVER", "MAIL_DEFAULT_SENDER", "STORAGE_DIR", "INSTANCE_DIR",
            "TRUSTED_PROXIES")


def test_the_template_sources_in_a_shell_and_names_every_required_setting() -> None:
    script = f"set -a; . {TEMPLATE}; set +a; " + "; ".join(
        f'printf "%s=%s\\n" {name} "${{{name}+set}}"' for name in REQUIRED)
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                            timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert result.stdout.splitlines() == [f"{name}=set" for name in REQUIRED]
    echo = f'set -a; . {TEMPLATE}; echo "$MAIL_DEFAULT_SENDER"'
    sender = subprocess.run(["bash", "-c", echo], capture_output=True, text=True,
                            timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert sender.stdout.strip().startswith("Convergence <")
