from __future__ import annotations

from datetime import UTC, datetime

from backoffice.filters import date_fr, datetime_fr


def test_dates_are_shown_in_french_in_paris_time() -> None:
    # 13:00 UTC in winter is 14:00 in Paris, the guide's "14 décembre 2023 14:00".
    assert datetime_fr(datetime(2023, 12, 14, 13, 0, tzinfo=UTC)) == "14 décembre 2023 14:00"
    # summer time: UTC+2
    assert datetime_fr(datetime(2026, 7, 1, 8, 30, tzinfo=UTC)) == "1er juillet 2026 10:30"
    # late evening UTC is already the next day in Paris
    assert date_fr(datetime(2026, 2, 28, 23, 30, tzinfo=UTC)) == "1er mars 2026"
    assert date_fr(None) == "—"


def test_secret_key_is_generated_once_and_kept_private(tmp_path, monkeypatch) -> None:
    import importlib

    import config

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    module = importlib.reload(config)
    try:
        first = module.Config().SECRET_KEY
        second = module.Config().SECRET_KEY
        assert first == second and len(first) >= 40
        assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    finally:
        monkeypatch.undo()
        importlib.reload(config)


def test_embedded_defaults(monkeypatch, tmp_path) -> None:
    from config import Config

    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    config = Config()
    assert config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert config.REDIS_URL is None
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    assert Config().SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@h/db"


def test_no_secret_is_committed() -> None:
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    if tracked.returncode != 0:  # not a git checkout (an sdist): nothing to check
        return
    names = tracked.stdout.split()
    assert not [n for n in names if n.startswith("instance/")]
    assert "secret_key" not in {Path(n).name for n in names}
