"""Settings, read from the environment. The defaults give the embedded mode:
SQLite under instance/, jobs run in-process after commit, files on local disk."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


PRODUCTION = "production"


def _instance_secret(name: str) -> str | None:
    """A secret from the environment (NAME in capitals), else one generated once into
    instance/<name> (mode 600). Not in production: every host must share the same secrets,
    which only the environment (the secret store) can give; unset, it stays None and the
    start-up checks refuse to start (backoffice/settings_check.py)."""
    if os.environ.get(name.upper()):
        return os.environ[name.upper()]
    if os.environ.get("BACKOFFICE_ENV") == PRODUCTION:
        return None
    path = INSTANCE_DIR / name
    if not path.exists():
        # written whole under a private name, then linked into place: two processes starting
        # at once (`make db` twice) both end up reading the one that was linked first, never
        # an empty or half-written file
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        draft = INSTANCE_DIR / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: its secret is the one
        finally:
            draft.unlink()
    return path.read_text().strip()


def log_settings() -> tuple[str, str]:
    """(format, level) of the logs: JSON lines in production, readable lines elsewhere,
    unless LOG_FORMAT says; INFO unless LOG_LEVEL says. Also read by gunicorn's logger,
    which starts before any application exists."""
    production = os.environ.get("BACKOFFICE_ENV") == PRODUCTION
    return (os.environ.get("LOG_FORMAT") or ("json" if production else "text"),
            (os.environ.get("LOG_LEVEL") or "INFO").upper())


def _int_or_raw(value: str) -> int | str:
    try:
        return int(value.strip())
    except ValueError:
        return value


def normalise_database_url(url: str) -> str:
    """postgresql:// and postgres:// mean psycopg 3 here (psycopg2 is not installed)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


class Config:
    """Everything the application reads; create_app(config) accepts overrides."""

    def __init__(self) -> None:
        self.INSTANCE_DIR = str(INSTANCE_DIR)
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'backoffice.sqlite3'}"
        )
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        self.STORAGE_DIR = os.environ.get("STORAGE_DIR", str(INSTANCE_DIR / "storage"))
        self.SECRET_KEY = _instance_secret("secret_key")
        # Encrypts the TOTP secrets at rest; independent of SECRET_KEY so that rotating
        # the session key does not lose every account's second factor.
        self.TOTP_ENCRYPTION_KEY = _instance_secret("totp_encryption_key")
        # Name shown in the authenticator app.
        self.TOTP_ISSUER = os.environ.get("TOTP_ISSUER", "ANS Convergence back-office")
        # Login throttling: failures allowed per account and per address in the window.
        self.LOGIN_MAX_FAILURES_ACCOUNT = int(os.environ.get("LOGIN_MAX_FAILURES_ACCOUNT", "5"))
        self.LOGIN_MAX_FAILURES_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_ADDRESS", "20"))
        self.LOGIN_THROTTLE_SECONDS = int(os.environ.get("LOGIN_THROTTLE_SECONDS", "900"))
        # Local development serves plain HTTP; everywhere else cookies are Secure.
        self.ENV_NAME = os.environ.get("BACKOFFICE_ENV", "development")
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool(
            "SESSION_COOKIE_SECURE", self.ENV_NAME != "development"
        )
        self.SESSION_COOKIE_NAME = "backoffice_session"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
        self.MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
        # SMTPS (TLS from the first byte, port 465) instead of STARTTLS; both verify the
        # relay's certificate and name, against the system's CAs or MAIL_CA_FILE.
        self.MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
        self.MAIL_CA_FILE = os.environ.get("MAIL_CA_FILE") or None
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = os.environ.get(
            "MAIL_DEFAULT_SENDER", "Convergence <ne-pas-repondre@convergence.example>"
        )
        # The documents an automatic message carries (certificate, attestation) are attached
        # to its e-mail up to this total size; above it the e-mail says where to fetch them.
        self.MAIL_ATTACHMENTS_MAX_BYTES = int(os.environ.get("MAIL_ATTACHMENTS_MAX_BYTES",
                                                             str(5 * 1024 * 1024)))
        # Embedded mode writes e-mails to this folder instead of sending them.
        self.MAIL_OUTBOX_DIR = os.environ.get("MAIL_OUTBOX_DIR", str(INSTANCE_DIR / "mails"))
        # Upload limits per purpose in MB, e.g. "piece=50,preuve=200,zip=2048,message=20".
        self.UPLOAD_LIMITS_MB = os.environ.get("UPLOAD_LIMITS_MB", "")
        # Yousign's API (unset: the vérificateur records the request id by hand).
        self.YOUSIGN_API_URL = os.environ.get("YOUSIGN_API_URL") or None
        self.YOUSIGN_API_KEY = os.environ.get("YOUSIGN_API_KEY") or None
        # A 429 or 5xx answer of Yousign is retried this many times, after 1, 2, 4… times
        # this delay (a Retry-After header is honoured up to a minute).
        self.YOUSIGN_RETRIES = int(os.environ.get("YOUSIGN_RETRIES", "3"))
        self.YOUSIGN_BACKOFF_SECONDS = float(os.environ.get("YOUSIGN_BACKOFF_SECONDS", "1"))
        # Signing of certificates (PEM files); unset: seed-demo generates demo material.
        self.SIGNING_KEY = os.environ.get("SIGNING_KEY") or None
        self.SIGNING_CERT = os.environ.get("SIGNING_CERT") or None
        self.SIGNING_CA = os.environ.get("SIGNING_CA") or None
        # Format of the SONS SAS numéro unique de référencement ({year}, {id}).
        self.REFERENCEMENT_FORMAT = os.environ.get("REFERENCEMENT_FORMAT",
                                                   "SONS-SAS-{year}-{id:06d}")
        # Public address of the back-office, printed in the certificates' QR codes.
        self.PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
        # Reverse proxies in front of the application (nginx: 1). Their X-Forwarded-For,
        # -Proto and -Host are believed for that many hops (Werkzeug's ProxyFix); 0: every
        # such header is ignored, a client cannot choose its own address. Kept as written
        # when it is not a number: the start-up checks say so.
        self.TRUSTED_PROXIES = _int_or_raw(os.environ.get("TRUSTED_PROXIES", "0"))
        # Logs (backoffice/logs.py): "json" (one object a line) or "text", and the level.
        self.LOG_FORMAT, self.LOG_LEVEL = log_settings()
        # Who may read /metrics: clients in these networks (CIDRs, comma-separated), or
        # with `Authorization: Bearer <METRICS_TOKEN>`. Neither set: /metrics is 404.
        self.METRICS_ALLOWED_NETWORKS = os.environ.get("METRICS_ALLOWED_NETWORKS", "")
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
        # Shared secret of the Yousign webhook (HMAC-SHA256 of the body).
        self.YOUSIGN_WEBHOOK_SECRET = os.environ.get("YOUSIGN_WEBHOOK_SECRET") or None
        # The secret being replaced, accepted as well while a rotation lasts (operations.md).
        self.YOUSIGN_WEBHOOK_SECRET_PREVIOUS = (os.environ.get("YOUSIGN_WEBHOOK_SECRET_PREVIOUS")
                                                or None)
        # Key of the audit trail's HMAC chain, kept outside the database (backoffice/audit.py).
        # Unset in the embedded mode: generated once into the app's instance folder (not
        # with _instance_secret, which would read this process's INSTANCE_DIR, not the
        # app's); required in production.
        self.AUDIT_HMAC_KEY = os.environ.get("AUDIT_HMAC_KEY") or None
        # Where the signed audit checkpoints are written (default STORAGE_DIR/audit-checkpoints).
        self.AUDIT_CHECKPOINT_DIR = os.environ.get("AUDIT_CHECKPOINT_DIR") or None
        # /verify: unknown numbers looked up per client address and window.
        self.VERIFY_MAX_FAILURES_ADDRESS = int(os.environ.get("VERIFY_MAX_FAILURES_ADDRESS",
                                                              "20"))
        self.VERIFY_THROTTLE_SECONDS = int(os.environ.get("VERIFY_THROTTLE_SECONDS", "3600"))
        # Validity of the one-time enrolment code an admin's second-factor reset issues.
        self.ENROLMENT_CODE_HOURS = float(os.environ.get("ENROLMENT_CODE_HOURS", "72"))
        # ClamAV daemon scanning every upload (backoffice/antivirus.py): a Unix socket, or a
        # host and port. Unset: no scanning, files are "sans_objet" and open at once.
        self.CLAMD_SOCKET = os.environ.get("CLAMD_SOCKET") or None
        self.CLAMD_HOST = os.environ.get("CLAMD_HOST") or None
        self.CLAMD_PORT = int(os.environ.get("CLAMD_PORT", "3310"))
        # Seconds without progress before giving up on clamd (a 2 GB zip takes a while).
        self.CLAMD_TIMEOUT = float(os.environ.get("CLAMD_TIMEOUT", "300"))
        # Where infected files go (mode 600, never served); default STORAGE_DIR/quarantaine.
        self.QUARANTINE_DIR = os.environ.get("QUARANTINE_DIR") or None
        # Seconds the home page's team counts are kept at most (queues/cache.py: they are
        # recomputed at once when a candidature moves; 0: never kept).
        self.QUEUE_CACHE_SECONDS = float(os.environ.get("QUEUE_CACHE_SECONDS", "60"))
        # Queue exports (issue 19): up to this many rows the CSV is streamed at once; beyond
        # it (or for a spreadsheet) an export job writes the file, kept this many hours in
        # EXPORT_DIR (default STORAGE_DIR/exports) for its requester to download.
        self.EXPORT_STREAM_MAX_ROWS = int(os.environ.get("EXPORT_STREAM_MAX_ROWS", "50000"))
        self.EXPORT_RETENTION_HOURS = float(os.environ.get("EXPORT_RETENTION_HOURS", "24"))
        self.EXPORT_DIR = os.environ.get("EXPORT_DIR") or None
        # A request that waited longer than this in gunicorn's queue since nginx passed it on
        # (its X-Request-Start) is refused with the 503 page instead of being processed: its
        # user has most likely given up (backoffice/overload.py). 0: never refused for that.
        self.REQUEST_QUEUE_TIMEOUT_SECONDS = float(
            os.environ.get("REQUEST_QUEUE_TIMEOUT_SECONDS", "30"))
        # In-process jobs: re-raise failures (tests) instead of logging and flashing them.
        self.JOBS_RAISE = _bool("JOBS_RAISE", False)
        self.TESTING = False

    @property
    def embedded(self) -> bool:
        return self.SQLALCHEMY_DATABASE_URI.startswith("sqlite")

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if k.isupper()}
