"""flask --app backoffice <command>"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from backoffice.db import db


def register(app: Flask) -> None:
    for command in (init_db, seed_demo, create_user, create_api_token, verify_audit,
                    send_mails, import_referentiel, resume_issuance, sauvegarder, restaurer,
                    recompter_files):
        app.cli.add_command(command)
    from backoffice.dbroles import roles_bd  # the application's database role

    app.cli.add_command(roles_bd)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Set up the database: create it if missing (PostgreSQL), migrate it to head under a
    lock, load the reference data of data/. The only command that migrates; idempotent."""
    from backoffice import migrate, reference
    from backoffice.db import write_intent

    engine = current_app.extensions["db_engine"]
    where = engine.url.render_as_string(hide_password=True)
    # SQLite: BEGIN IMMEDIATE, so that a second init-db waits for the first's write lock
    # instead of reading the old schema (PostgreSQL: the advisory lock, migrate.exclusive)
    intent = write_intent.set(True)
    try:
        if migrate.ensure_database(engine):
            click.echo(f"Base de données « {engine.url.database} » créée.")
        before, after = migrate.upgrade_locked(engine)
        click.echo(f"Schéma : {_revisions_line(before, after)} ({where}).")
        report = _load_reference(migrate, reference)
    except (migrate.DatabaseUnavailable, reference.ReferenceDataError) as error:
        db.rollback()
        click.echo(error.message, err=True)
        sys.exit(1)
    finally:
        write_intent.reset(intent)
    click.echo(_reference_line(report))
    for note in report.notes:
        click.echo(f"  {note}")


def _revisions_line(before: set[str], after: set[str]) -> str:
    head = ", ".join(sorted(after))
    if before == after:
        return f"déjà à jour (révision {head})"
    if not before:
        return f"créé (révision {head})"
    return f"migré de la révision {', '.join(sorted(before))} à la révision {head}"


def _load_reference(migrate, reference):
    """Under the set-up lock, in one transaction: a second host waits, then finds it done."""
    from backoffice import audit
    from backoffice.models import ReferenceSnapshot

    with migrate.exclusive(db.connection()):
        first = db.scalar(select(ReferenceSnapshot.kind).limit(1)) is None
        report = reference.load()
        # a later deployment changing the delays or the wording in force is recorded; the
        # first load is the installation itself (and leaves the database restorable)
        if report.changed and not first:
            audit.record("init-db", "reference.chargee", "base", after=report.as_dict())
        # CLI exception (unitofwork.py): no request around a command, it commits its work
        db.commit()
    return report


_KINDS = {"demarche": "démarche(s)", "delay_rule": "délai(s)", "piece_type": "pièce(s)",
          "message_template": "message(s) automatique(s)", "referentiel": "référentiel(s)"}


def _reference_line(report) -> str:
    parts = []
    for what, counts in (("créé(s)", report.created), ("mis à jour", report.updated),
                         ("retiré(s)", report.removed)):
        if counts:
            listed = ", ".join(f"{n} {_KINDS.get(kind, kind)}" for kind, n in counts.items())
            parts.append(f"{what} : {listed}")
    return "Données de référence : " + ("; ".join(parts) if parts else "déjà à jour") + "."


@click.command("seed-demo")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Ne rien faire si des comptes existent déjà.")
@click.option("--candidatures", default=48, show_default=True)
@click.option("--historique", default=0, show_default=True,
              help="Candidatures terminées au fil des derniers mois (statistiques).")
def seed_demo(if_empty: bool, candidatures: int, historique: int) -> None:
    """Load the demo data; print the demo accounts (written to instance/)."""
    from backoffice.models import User
    from backoffice.seed import seed

    if if_empty and db.scalar(select(func.count()).select_from(User)):
        path = Path(current_app.config["INSTANCE_DIR"]) / "demo-credentials.json"
        click.echo("Données de démonstration déjà chargées.")
        if path.exists():
            _print_credentials(json.loads(path.read_text()))
        return
    from backoffice.models import JobOutbox
    from backoffice.reference import ReferenceDataError

    outbox_before = db.scalar(select(func.max(JobOutbox.id))) or 0
    try:
        credentials = seed(candidatures=candidatures, history=historique)
    except ReferenceDataError as error:  # init-db has not run
        raise click.ClickException(error.message) from None
    from backoffice.tasks import collect_failures, exit_on_failures

    # the issuances the demo's last steps set off run (embedded mode) or are queued now
    with collect_failures() as failures:
        # CLI exception (unitofwork.py): no request around a command, it commits its work
        db.commit()
    path = Path(current_app.config["INSTANCE_DIR"]) / "demo-credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2, ensure_ascii=False))
    path.chmod(0o600)
    _print_credentials(credentials)
    click.echo(f"(écrits dans {path})")
    exit_on_failures(failures + _left_in_outbox(outbox_before))


def _left_in_outbox(after_id: int) -> list:
    """The seed's jobs that could not reach Redis (down): kept in the outbox for
    `flask pousser-taches`, but the demo is not complete until they run."""
    from backoffice.models import JobOutbox
    from backoffice.tasks import JobFailure

    db.rollback()  # read what the pushes committed
    rows = db.execute(select(JobOutbox.job_name, JobOutbox.args, JobOutbox.last_error).where(
        JobOutbox.id > after_id, JobOutbox.enqueued_at.is_(None))
        .order_by(JobOutbox.id)).all()
    return [JobFailure(row.job_name, tuple(row.args), "en attente dans la file sortante "
                       f"({row.last_error or 'Redis injoignable'})") for row in rows]


def _print_credentials(credentials: dict) -> None:
    click.echo("Comptes de démonstration (rôle, adresse, mot de passe, clé TOTP) :")
    for account in credentials["accounts"]:
        click.echo(f"  {account['role']:<13} {account['email']:<40} {account['password']:<18}"
                   f" {account.get('totp_secret', '')}")
    click.echo("Double authentification : ajoutez la clé TOTP du compte dans une application "
               "d'authentification, ou affichez le code courant avec "
               "`.venv/bin/python -m backoffice.auth.totp <clé>`.")
    token = credentials.get("api_token")
    if token:
        click.echo(f"Jeton API ({token['organisation']}) : {token['token']}")


@click.command("create-user")
@with_appcontext
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role", "roles", multiple=True, required=True,
    type=click.Choice(["verificateur", "college", "support", "admin"]),
)
@click.option("--team", "teams", multiple=True, help="Nom d'une équipe existante.")
@click.option("--password", help="Par défaut : généré et affiché une fois.")
def create_user(email: str, name: str, roles: tuple[str, ...], teams: tuple[str, ...],
                password: str | None) -> None:
    """Create a back-office account."""
    from backoffice import audit
    from backoffice.auth.passwords import hash_password
    from backoffice.models import Team, User

    email = email.strip().lower()
    if db.scalar(select(User).where(func.lower(User.email) == email)):
        raise click.ClickException(f"Un compte existe déjà pour {email}.")
    found = db.scalars(select(Team).where(Team.name.in_(teams))).all() if teams else []
    missing = set(teams) - {t.name for t in found}
    if missing:
        raise click.ClickException(f"Équipe inconnue : {', '.join(sorted(missing))}.")
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    user = User(email=email, name=name, password_hash=hash_password(password), teams=list(found))
    user.roles = set(roles)
    db.add(user)
    audit.record("cli", "admin.user.cree", user, after={"email": email, "roles": sorted(roles)})
    # CLI exception (unitofwork.py): no request around a command, it commits its work
    db.commit()
    click.echo(f"Compte créé : {email}")
    if generated:
        click.echo(f"Mot de passe : {password}")


@click.command("create-api-token")
@with_appcontext
@click.option("--organisation", "organisation_name", required=True,
              help="Raison sociale ; l'organisation est créée si elle n'existe pas.")
@click.option("--siret", help="SIRET (14 chiffres), pour une organisation créée ici.")
@click.option("--contact-email", help="Contact de l'organisation créée ici.")
@click.option("--name", required=True, help="Usage du jeton, par ex. « Portail Convergence ».")
def create_api_token(organisation_name: str, siret: str | None, contact_email: str | None,
                     name: str) -> None:
    """Create an intake API token for an organisation; print it once (only its SHA-256 is
    kept)."""
    from backoffice import audit
    from backoffice.models import Organisation
    from backoffice.tokens import new_api_token

    organisation_name, name = organisation_name.strip(), name.strip()
    if not organisation_name or not name:
        raise click.ClickException("L'organisation et l'usage du jeton sont obligatoires.")
    if siret is not None and not (len(siret) == 14 and siret.isdigit()):
        raise click.ClickException("Le SIRET compte 14 chiffres.")
    organisation = _find_organisation(organisation_name, siret)
    if organisation is None:
        organisation = Organisation(name=organisation_name, siret=siret,
                                    contact_email=contact_email)
        db.add(organisation)
        db.flush()
        audit.record("cli", "admin.organisation.creee", organisation,
                     after={"name": organisation_name, "siret": siret})
        click.echo(f"Organisation créée : {organisation_name}")
    token, raw = new_api_token(organisation, name)
    db.add(token)
    db.flush()
    audit.record("cli", "admin.apitoken.cree", token,
                 after={"organisation": organisation_name, "name": name, "prefix": token.prefix})
    # CLI exception (unitofwork.py): no request around a command, it commits its work
    db.commit()
    click.echo(f"Jeton créé pour {organisation_name} ({name}) : {raw}")
    click.echo("Copiez-le maintenant : il ne sera plus jamais affiché (révocation : "
               "administration, Jetons d'API).")


def _find_organisation(name: str, siret: str | None):
    from backoffice.models import Organisation

    if siret is not None:
        found = db.scalar(select(Organisation).where(Organisation.siret == siret))
        if found is not None and found.name != name:
            raise click.ClickException(f"Le SIRET {siret} est celui de « {found.name} ».")
        if found is not None:
            return found
    named = db.scalars(select(Organisation).where(Organisation.name == name)).all()
    if len(named) > 1:
        raise click.ClickException(
            f"Plusieurs organisations s'appellent « {name} » : précisez --siret.")
    if named and siret is not None and named[0].siret not in (None, siret):
        raise click.ClickException(f"« {name} » a le SIRET {named[0].siret}, pas {siret}.")
    return named[0] if named else None


@click.command("verify-audit")
@click.option("--full", is_flag=True,
              help="Vérifier toute la chaîne et chaque point de contrôle (sinon : depuis le "
                   "dernier point de contrôle).")
@click.option("--no-checkpoint", "no_checkpoint", is_flag=True,
              help="N'écrire aucun point de contrôle après une vérification réussie.")
@click.option("--after-restore", "after_restore", is_flag=True,
              help="Après une restauration : écarter (sans les effacer) les points de contrôle "
                   "d'événements que la base restaurée n'a plus.")
@with_appcontext
def verify_audit(full: bool, no_checkpoint: bool, after_restore: bool) -> None:
    """Check the audit trail from its latest checkpoint (or whole); exit 1 when broken."""
    from backoffice.audit import AuditKeyError
    from backoffice.audit_checkpoints import run_verification, set_aside_after_restore

    try:
        if after_restore:
            for line in set_aside_after_restore():
                click.echo(line)
        outcome = run_verification(full=full, write=not no_checkpoint)
    except AuditKeyError as error:
        raise click.ClickException(error.message) from error
    for line in outcome.lines:
        click.echo(line)
    if not outcome.report.ok:
        sys.exit(1)


@click.command("send-mails")
@with_appcontext
def send_mails() -> None:
    """Send the outbox's due e-mails now (the worker does it every minute); exit 1 when
    some could not be sent (they stay in the outbox, retried later)."""
    from jobs.notifications import send_due

    report = send_due()
    click.echo(f"{report.sent} e-mail(s) envoyé(s), {report.failed} en échec.")
    if report.failed:
        for line in report.errors[:20]:
            click.echo(f"  {line}", err=True)
        if len(report.errors) > 20:
            click.echo(f"  … et {len(report.errors) - 20} autre(s).", err=True)
        sys.exit(1)


@click.command("import-referentiel")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--code", type=click.Choice(["dmn", "sons_sas"]), required=True)
@click.option("--version", "version", required=True, help="Nouvelle version, par ex. V2.")
@click.option("--label", default=None)
@with_appcontext
def import_referentiel(path: Path, code: str, version: str, label: str | None) -> None:
    """Import a référentiel version from ANS's exigence export workbook (XLSX)."""
    from backoffice import audit
    from backoffice.workflow.base import InvalidInput
    from backoffice.workflow.referentiel_import import import_workbook

    try:
        referentiel = import_workbook(path, code=code, version=version,
                                      label=label or f"Référentiel {code} {version}")
    except InvalidInput as error:
        raise click.ClickException(error.message) from error
    audit.record("cli", "referentiel.importer", referentiel,
                 after={"code": code, "version": version, "file": path.name})
    # CLI exception (unitofwork.py): no request around a command, it commits its work
    db.commit()
    exigences = sum(len(s.exigences) for s in referentiel.sections)
    click.echo(f"Référentiel {code} {version} importé : {len(referentiel.sections)} sections, "
               f"{exigences} exigences, {len(referentiel.profils)} profils. Il est en vigueur "
               "pour les prochaines recevabilités.")


@click.command("reprendre-emissions")
@with_appcontext
def resume_issuance() -> None:
    """Queue again the certificates still to issue (after an incident); in the embedded
    mode they are issued at once. Exit 1, listing them, when some failed."""
    from backoffice.tasks import collect_failures, exit_on_failures
    from jobs.certificats import rattraper

    with collect_failures() as failures:
        count = rattraper()
    # in the embedded mode the failures may include the jobs an issuance set off (its
    # e-mail): the count says how many issuances themselves failed
    failed = sum(f.job_name == "certificats.emettre" for f in failures)
    if current_app.config.get("REDIS_URL"):
        click.echo(f"{count - failed} émission(s) remise(s) en file sur {count}.")
    else:
        click.echo(f"{count} émission(s) reprise(s) sur place (mode embarqué), "
                   f"{count - failed} sans erreur.")
    exit_on_failures(failures)


@click.command("sauvegarder")
@click.argument("dest", type=click.Path(path_type=Path))
@with_appcontext
def sauvegarder(dest: Path) -> None:
    """Back up the database and the file store into DEST (a new directory, or .tar/.tar.gz)."""
    from backoffice.backup import BackupError, backup_summary, create_backup

    try:
        manifest = create_backup(dest, engine=current_app.extensions["db_engine"],
                                 storage_dir=Path(current_app.config["STORAGE_DIR"]))
    except BackupError as error:
        raise click.ClickException(error.message) from error
    for line in backup_summary(dest, manifest):
        click.echo(line)


@click.command("restaurer")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--force", is_flag=True,
              help="Remplacer le contenu d'une base ou d'un stockage qui ne sont pas vides.")
@with_appcontext
def restaurer(source: Path, force: bool) -> None:
    """Restore a backup (directory or tar) into the configured database and file store."""
    from backoffice.backup import BackupError, restore_backup

    try:
        lines = restore_backup(source, engine=current_app.extensions["db_engine"],
                               storage_dir=Path(current_app.config["STORAGE_DIR"]), force=force)
    except BackupError as error:
        raise click.ClickException(error.message) from error
    for line in lines:
        click.echo(line)


@click.command("recompter-files")
@with_appcontext
def recompter_files() -> None:
    """Rebuild the home page's counts (models/queue_count.py), the follows of « Suivis »
    and the holdings of « Mes dossiers » (models/follow.py) from the candidatures: after
    rows were written outside the application (psql, a bulk load). The nightly periodic
    job does the same."""
    from backoffice.models.follow import refollow
    from backoffice.models.queue_count import recount

    # the follows and holdings first, then the counts: the order a flush writes them in
    refollow(db)
    total = recount(db)
    # CLI exception (unitofwork.py): no request around a command, it commits its work
    db.commit()
    click.echo(f"Compteurs des files recalculés : {total} candidature(s) en cours.")
