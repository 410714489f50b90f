"""Settings checked at start (issue 14, item 2).

With BACKOFFICE_ENV=production the web application (`backoffice.wsgi`, and gunicorn's
`on_starting` hook in gunicorn.conf.py) and the job worker refuse to start, printing one
French line per problem, when a setting is missing or unsafe: a service that starts with a
per-host TOTP key, a demo signing CA or a QR code pointing at 127.0.0.1 fails later and
quietly; refusing at start makes it loud. `flask check-config` prints the same report
whatever BACKOFFICE_ENV says (exit 1 on problems).

The checks are not run by create_app(): `flask init-db` builds the application too, and it
must still work while the schema is behind (it is what brings it to head).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import sys
import tempfile
from collections.abc import Callable, Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import Engine

from config import BASE_DIR, PRODUCTION

MIN_SECRET_LENGTH = 32
# Values seen in examples, tests and benchmarks: never a production secret.
KNOWN_WEAK_SECRETS = frozenset({
    "changeme", "change-me", "secret", "dev", "development", "test", "password",
    "test-secret-key-not-used-anywhere-else", "bench-only-secret-key",
})
EXAMPLE_DOMAINS = ("example", "example.com", "example.org", "example.net", "localhost",
                   "invalid", "test")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# --- secrets -----------------------------------------------------------------------------

def _generated_on_this_host(config: Mapping[str, Any], name: str, value: str) -> bool:
    """config.py generates a missing secret into the instance folder (embedded mode): such
    a value is this host's own, which a second host would not share."""
    path = Path(str(config.get("INSTANCE_DIR") or "")) / name.lower()
    try:
        return path.is_file() and path.read_text().strip() == value
    except OSError:
        return False


def _secret_problems(config: Mapping[str, Any], name: str, why: str) -> list[str]:
    value = config.get(name)
    if not value:
        return [f"{name} : non défini dans l'environnement ({why})."]
    value = str(value)
    if _generated_on_this_host(config, name, value):
        return [f"{name} : généré dans le dossier d'instance de cet hôte ; il doit venir de "
                f"l'environnement, identique sur chaque hôte ({why})."]
    if value.strip().lower() in KNOWN_WEAK_SECRETS or len(set(value)) < 10:
        return [f"{name} : valeur d'exemple ou trop simple ; tirez-en une au hasard "
                f"(`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."]
    if len(value) < MIN_SECRET_LENGTH:
        return [f"{name} : trop court ({len(value)} caractères, au moins "
                f"{MIN_SECRET_LENGTH} attendus)."]
    return []


def secrets_problems(config: Mapping[str, Any]) -> list[str]:
    found = _secret_problems(config, "SECRET_KEY", "il signe les sessions et les jetons CSRF")
    found += _secret_problems(
        config, "TOTP_ENCRYPTION_KEY",
        "il chiffre les clés de double authentification : une clé propre à chaque hôte "
        "ferait refuser tous les codes sur les autres")
    found += _secret_problems(
        config, "AUDIT_HMAC_KEY",
        "il scelle le journal d'audit hors de la base : identique sur chaque hôte")
    if config.get("SECRET_KEY") and config.get("SECRET_KEY") == config.get(
            "TOTP_ENCRYPTION_KEY"):
        found.append("TOTP_ENCRYPTION_KEY : identique à SECRET_KEY ; utilisez deux clés "
                     "distinctes (changer l'une ne doit pas perdre l'autre).")
    return found


# --- public address ----------------------------------------------------------------------

def _is_local_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified or address.is_link_local


def public_url_problems(config: Mapping[str, Any]) -> list[str]:
    url = str(config.get("PUBLIC_BASE_URL") or "")
    if not url:
        return ["PUBLIC_BASE_URL : non défini (l'adresse publique imprimée dans le QR code "
                "des certificats)."]
    parts = urlsplit(url)
    found = []
    if parts.scheme != "https":
        found.append(f"PUBLIC_BASE_URL : doit commencer par https:// (valeur : {url}) ; "
                     "les QR codes des certificats y renvoient.")
    if not parts.hostname:
        found.append(f"PUBLIC_BASE_URL : adresse sans nom d'hôte (valeur : {url}).")
    elif _is_local_host(parts.hostname):
        found.append(f"PUBLIC_BASE_URL : désigne la machine locale ({parts.hostname}) ; "
                     "indiquez l'adresse publique du back-office.")
    if parts.query or parts.fragment:
        found.append(f"PUBLIC_BASE_URL : ne doit contenir ni « ? » ni « # » (valeur : {url}).")
    return found


# --- signing material --------------------------------------------------------------------

def _demo_organisation() -> str:
    """The organisation name that backoffice/signing.py writes into the subject of every
    demo certificate it generates (its CA and its signing certificate): the marker of demo
    material. Read from signing.py itself so that the two cannot drift apart."""
    from cryptography.x509.oid import NameOID

    from backoffice.signing import _name

    return str(_name("-").get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value)


def _is_demo(certificate: Any) -> bool:
    from cryptography.x509.oid import NameOID

    marker = _demo_organisation()
    for name in (certificate.subject, certificate.issuer):
        if any(attribute.value == marker
               for attribute in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)):
            return True
    return False


def _read(config: Mapping[str, Any], name: str, found: list[str]) -> bytes | None:
    path = Path(str(config[name]))
    try:
        return path.read_bytes()
    except OSError as error:
        found.append(f"{name} : fichier illisible ({path} : {error.strerror or error}).")
        return None


def signing_problems(config: Mapping[str, Any]) -> list[str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    names = ("SIGNING_KEY", "SIGNING_CERT", "SIGNING_CA")
    missing = [name for name in names if not config.get(name)]
    if missing:
        return [f"{name} : non défini (sans le matériel de signature de l'ANS, l'émission "
                "des certificats échoue ou une AC de démonstration les signe)."
                for name in missing]
    found: list[str] = []
    raw = {name: _read(config, name, found) for name in names}
    key = cert = None
    cas: list[Any] = []
    if raw["SIGNING_KEY"] is not None:
        try:
            key = serialization.load_pem_private_key(raw["SIGNING_KEY"], password=None)
        except (ValueError, TypeError):
            found.append("SIGNING_KEY : clé privée PEM illisible (pas au format PEM, ou "
                         "protégée par une phrase de passe).")
    if raw["SIGNING_CERT"] is not None:
        try:
            cert = x509.load_pem_x509_certificate(raw["SIGNING_CERT"])
        except ValueError:
            found.append("SIGNING_CERT : certificat PEM illisible.")
    if raw["SIGNING_CA"] is not None:
        try:
            cas = x509.load_pem_x509_certificates(raw["SIGNING_CA"])
        except ValueError:
            found.append("SIGNING_CA : certificat(s) PEM illisible(s).")
    if any(_is_demo(c) for c in [*([cert] if cert else []), *cas]):
        found.append("SIGNING_CERT / SIGNING_CA : matériel de démonstration généré par le "
                     "back-office (« " + _demo_organisation() + " ») ; configurez la clé et "
                     "les certificats de signature de l'ANS.")
    if cert is not None:
        now = dt.datetime.now(dt.UTC)
        if cert.not_valid_after_utc <= now:
            found.append(f"SIGNING_CERT : expiré depuis le "
                         f"{cert.not_valid_after_utc:%d/%m/%Y}.")
        elif cert.not_valid_before_utc > now:
            found.append(f"SIGNING_CERT : valable seulement à partir du "
                         f"{cert.not_valid_before_utc:%d/%m/%Y}.")
        if key is not None and key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            found.append("SIGNING_KEY : la clé ne correspond pas au certificat SIGNING_CERT.")
        if cas and not any(_issued_by(cert, ca) for ca in cas):
            found.append("SIGNING_CERT : n'a pas été émis par l'AC de SIGNING_CA.")
    return found


def _issued_by(cert: Any, ca: Any) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:
        return False
    return True


# --- mail ----------------------------------------------------------------------------------

def mail_problems(config: Mapping[str, Any]) -> list[str]:
    found = []
    if not config.get("MAIL_SERVER"):
        found.append("MAIL_SERVER : non défini (les e-mails seraient écrits dans un dossier "
                     "local au lieu d'être envoyés).")
    sender = str(config.get("MAIL_DEFAULT_SENDER") or "")
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2].lower().rstrip(".")
    if not sender:
        found.append("MAIL_DEFAULT_SENDER : non défini (l'expéditeur des e-mails).")
    elif "@" not in address or not domain:
        found.append(f"MAIL_DEFAULT_SENDER : adresse invalide (« {sender} »).")
    elif domain in EXAMPLE_DOMAINS or domain.endswith(tuple("." + d for d in EXAMPLE_DOMAINS)):
        found.append(f"MAIL_DEFAULT_SENDER : adresse d'exemple (« {sender} ») ; indiquez "
                     "l'expéditeur réel de l'ANS.")
    if config.get("MAIL_PASSWORD") and not (config.get("MAIL_USE_TLS")
                                            or config.get("MAIL_USE_SSL")):
        found.append("MAIL_PASSWORD : défini sans MAIL_USE_TLS ni MAIL_USE_SSL ; le mot de "
                     "passe circulerait en clair.")
    return found


# --- storage -----------------------------------------------------------------------------

def storage_problems(config: Mapping[str, Any]) -> list[str]:
    value = str(config.get("STORAGE_DIR") or "")
    if not value:
        return ["STORAGE_DIR : non défini (le dossier des fichiers déposés)."]
    path = Path(value)
    if not path.is_absolute():
        return [f"STORAGE_DIR : chemin relatif ({value}) ; indiquez un chemin absolu."]
    resolved = path.resolve()
    source = BASE_DIR.resolve()
    if resolved == source or source in resolved.parents:
        return [f"STORAGE_DIR : dans le dossier des sources ({resolved}) ; indiquez un dossier "
                "dédié (partagé par les hôtes), hors du code déployé."]
    # not created here: a shared filesystem that is not mounted must not silently become a
    # local folder
    if not resolved.is_dir():
        return [f"STORAGE_DIR : le dossier {resolved} n'existe pas (créez-le, ou montez le "
                "stockage partagé)."]
    try:
        with tempfile.NamedTemporaryFile(dir=resolved, prefix=".check-"):
            pass
    except OSError as error:
        return [f"STORAGE_DIR : pas accessible en écriture ({resolved} : "
                f"{error.strerror or error})."]
    return []


# --- settings of this module's own features ------------------------------------------------

def runtime_problems(config: Mapping[str, Any]) -> list[str]:
    found = []
    proxies = config.get("TRUSTED_PROXIES", 0)
    if not isinstance(proxies, int) or isinstance(proxies, bool) or proxies < 0:
        found.append(f"TRUSTED_PROXIES : nombre de proxys attendu (0, 1, 2…), "
                     f"valeur : « {proxies} ».")
    for network in str(config.get("METRICS_ALLOWED_NETWORKS") or "").split(","):
        if network.strip():
            try:
                ipaddress.ip_network(network.strip(), strict=False)
            except ValueError:
                found.append(f"METRICS_ALLOWED_NETWORKS : réseau invalide « {network.strip()} » "
                             "(attendu : 10.0.0.0/8, 192.0.2.7…).")
    token = config.get("METRICS_TOKEN")
    if token and len(str(token)) < MIN_SECRET_LENGTH:
        found.append(f"METRICS_TOKEN : trop court (au moins {MIN_SECRET_LENGTH} caractères).")
    if str(config.get("LOG_FORMAT", "text")) not in LOG_FORMATS:
        found.append(f"LOG_FORMAT : « {config.get('LOG_FORMAT')} » inconnu (json ou text).")
    if str(config.get("LOG_LEVEL", "INFO")).upper() not in LOG_LEVELS:
        found.append(f"LOG_LEVEL : « {config.get('LOG_LEVEL')} » inconnu "
                     f"({', '.join(LOG_LEVELS)}).")
    if config.get("ENV_NAME") == PRODUCTION and not config.get("SESSION_COOKIE_SECURE"):
        found.append("SESSION_COOKIE_SECURE : désactivé ; en production les cookies de "
                     "session ne circulent qu'en HTTPS.")
    return found


CONFIG_CHECKS: tuple[Callable[[Mapping[str, Any]], list[str]], ...] = (
    secrets_problems, public_url_problems, signing_problems, mail_problems, storage_problems,
    runtime_problems,
)


# --- the database ----------------------------------------------------------------------------

def schema_problem(engine: Engine) -> str | None:
    """The database set-up's own check (backoffice/migrate.py): the schema at the
    migrations' head, or the line saying how to get there."""
    from backoffice.migrate import schema_problem as check

    return check(engine)


# Each returns a French line or None; they run in this order, and only when the database
# answers.
def audit_owner_problem(engine: Engine) -> str | None:
    from backoffice.dbroles import audit_owner_problem as check

    return check(engine)


DATABASE_CHECKS: list[Callable[[Engine], str | None]] = [schema_problem, audit_owner_problem]


def database_problems(engine: Engine) -> list[str]:
    from sqlalchemy import text

    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        detail = (str(getattr(error, "orig", None) or error).strip().splitlines()
                  or [type(error).__name__])[0][:300]
        return [f"Base de données : injoignable "
                f"({engine.url.render_as_string(hide_password=True)} : {detail})."]
    found = []
    for check in DATABASE_CHECKS:
        try:
            problem = check(engine)
        except Exception as error:
            problem = f"Base de données : vérification impossible ({error})."
        if problem:
            found.append(problem)
    return found


def problems(config: Mapping[str, Any], engine: Engine | None = None) -> list[str]:
    """Every problem found, one French line each; empty when production may start."""
    found = [line for check in CONFIG_CHECKS for line in check(config)]
    if engine is not None:
        found += database_problems(engine)
    return found


# --- refusing to start -------------------------------------------------------------------

COMPONENTS = {"web": "L'application web", "worker": "Le worker de tâches",
              "check": "La configuration"}


def report(found: list[str], component: str) -> list[str]:
    if not found:
        return [f"{COMPONENTS[component]} : configuration de production sans problème."]
    return ([f"{COMPONENTS[component]} : {len(found)} problème(s) de configuration "
             "(BACKOFFICE_ENV=production) :"] + [f"- {line}" for line in found])


def refuse_if_unsafe(config: Mapping[str, Any], engine: Engine | None, component: str) -> None:
    """In production, print the problems (stderr) and exit with status 1."""
    if config.get("ENV_NAME") != PRODUCTION:
        return
    found = problems(config, engine)
    if not found:
        return
    lines = report(found, component)
    lines[0] += " démarrage refusé."
    print("\n".join(lines), file=sys.stderr, flush=True)
    raise SystemExit(1)


def enforce(app: Flask, component: str = "web") -> None:
    """The application's own check: `backoffice.wsgi` (web) and the job worker
    (`backoffice/worker.py`: `settings_check.enforce(app, "worker")` once it has built
    its application)."""
    refuse_if_unsafe(app.config, app.extensions["db_engine"], component)


def enforce_environment(component: str = "web") -> None:
    """The same check before any application exists (gunicorn's `on_starting`, in the
    master process: a refusal stops gunicorn before it forks a worker)."""
    from backoffice.db import make_engine
    from config import Config

    config = Config().as_dict()
    if config.get("ENV_NAME") != PRODUCTION:
        return
    engine = make_engine(str(config["SQLALCHEMY_DATABASE_URI"]))
    try:
        refuse_if_unsafe(config, engine, component)
    finally:
        engine.dispose()


@click.command("check-config")
@with_appcontext
def check_config() -> None:
    """Check the settings as production would (exit 1 on problems)."""
    found = problems(current_app.config, current_app.extensions["db_engine"])
    for line in report(found, "check"):
        click.echo(line)
    if current_app.config.get("ENV_NAME") != PRODUCTION:
        click.echo(f"(BACKOFFICE_ENV={current_app.config.get('ENV_NAME')} : ces problèmes "
                   "n'empêchent pas le démarrage hors production.)")
    if found:
        sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(check_config)
