"""CLI commands that run or queue jobs tell the truth (issue 17): in the embedded mode
(no Redis: jobs in-process) `flask reprendre-emissions` issues the certificates left
pending — it used to print success while every job failed with "database is locked" —
and, like `analyser-fichiers`, exits 1 listing the jobs that failed; in production mode
a job that cannot be queued (Redis down) is a failure too. Real `flask` processes on
each database."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backoffice import create_app
from backoffice.db import db
from backoffice.models import Candidature, CandidatureStep, Certificat, Fichier
from backoffice.seed import ensure_delay_rules, ensure_demarches
from backoffice.uploads import storage
from backoffice.workflow.base import Industriel
from backoffice.workflow.referentiels import load_json
from backoffice.workflow.scenarios import Driver
from tests.conftest import BACKENDS, base_config, fresh_database_url
from tests.factories import (
    FichierFactory,
    OrganisationFactory,
    ProductFactory,
    TeamFactory,
    UserFactory,
    fichier_for,
)
from tests.test_issuance_crash import _free_port

ROOT = Path(__file__).resolve().parents[1]
DEAD_REDIS = "redis://127.0.0.1:9/0"  # nothing listens: the issuance jobs stay in the outbox


@pytest.fixture(params=BACKENDS)
def stuck(request, tmp_path):
    """Two DMN candidatures whose issuance job was lost (queued while Redis was down):
    they wait in emission_en_cours. Returns the database URL."""
    url = fresh_database_url(request.param, tmp_path, "cli")
    app = create_app({**base_config(tmp_path, url), "REDIS_URL": DEAD_REDIS})
    with app.app_context():
        ensure_demarches()
        load_json(ROOT / "data" / "referentiel.json")
        ensure_delay_rules()
        organisation = OrganisationFactory()
        driver = Driver(Industriel(organisation),
                        UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")]),
                        UserFactory(roles=["college"]), fichier_for)
        for _ in range(2):
            driver.drive(driver.open(ProductFactory(organisation=organisation), "dmn_pecan"),
                         "certificat")
        db.commit()
    app.extensions["db_engine"].dispose()
    return url


def flask(tmp_path: Path, url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`flask --app backoffice …` as an operator runs it, in the embedded mode unless
    REDIS_URL is given."""
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environ.update({"DATABASE_URL": url, "INSTANCE_DIR": str(tmp_path),
                    "STORAGE_DIR": str(tmp_path / "storage"),
                    "MAIL_OUTBOX_DIR": str(tmp_path / "mails"), "SECRET_KEY": "cli-jobs",
                    **{k: str(v) for k, v in base_config(tmp_path, url).items()
                       if k.startswith("SIGNING")}, **env})
    return subprocess.run([sys.executable, "-m", "flask", "--app", "backoffice", *args],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


def _listed(output: str, prefix: str) -> int:
    """How many failed jobs the command listed (not the log lines around them)."""
    return sum(line.startswith(f"  {prefix}") for line in output.splitlines())


def _statuses(tmp_path: Path, url: str) -> tuple[list[str], int]:
    app = create_app(base_config(tmp_path, url))
    try:
        with app.app_context():
            steps = db.scalars(select(CandidatureStep.status).join(
                Candidature, (CandidatureStep.candidature_id == Candidature.id)
                & (CandidatureStep.step == Candidature.current_step))
                .order_by(Candidature.id)).all()
            issued = db.scalar(select(func.count()).select_from(Certificat)
                               .where(Certificat.fichier_id.is_not(None)))
            return list(steps), issued
    finally:
        app.extensions["db_engine"].dispose()


def test_reprendre_emissions_issues_in_the_embedded_mode(stuck, tmp_path) -> None:
    assert _statuses(tmp_path, stuck) == (["emission_en_cours"] * 2, 0)
    result = flask(tmp_path, stuck, "reprendre-emissions")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 émission(s) reprise(s) sur place (mode embarqué), 2 sans erreur." in result.stdout
    assert "database is locked" not in result.stderr
    assert _statuses(tmp_path, stuck) == (["emis"] * 2, 2)
    mails = list((tmp_path / "mails").glob("*.eml"))
    assert mails, "the issuance's own e-mail job ran too"
    again = flask(tmp_path, stuck, "reprendre-emissions")  # nothing left: nothing done
    assert again.returncode == 0 and "0 émission(s) reprise(s)" in again.stdout
    assert _statuses(tmp_path, stuck)[1] == 2


def test_reprendre_emissions_exits_1_and_lists_the_failed_jobs(stuck, tmp_path) -> None:
    result = flask(tmp_path, stuck, "reprendre-emissions",
                   SIGNING_KEY=str(tmp_path / "absente.pem"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 émission(s) reprise(s) sur place (mode embarqué), 0 sans erreur." in result.stdout
    assert "2 tâche(s) en échec :" in result.stderr
    assert _listed(result.stderr, "certificats.emettre(") == 2
    assert "SigningUnavailable" in result.stderr
    # the failure is recorded where a vérificateur sees it (and can retry)
    assert _statuses(tmp_path, stuck) == (["echec_emission"] * 2, 0)


def test_reprendre_emissions_exits_1_when_redis_is_down(stuck, tmp_path) -> None:
    result = flask(tmp_path, stuck, "reprendre-emissions",
                   REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 émission(s) remise(s) en file sur 2." in result.stdout
    assert _listed(result.stderr, "certificats.emettre(") == 2
    assert "ConnectionError" in result.stderr
    assert _statuses(tmp_path, stuck) == (["emission_en_cours"] * 2, 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_analyser_fichiers_exits_1_when_the_scans_fail(backend, tmp_path) -> None:
    url = fresh_database_url(backend, tmp_path, "scan")
    app = create_app(base_config(tmp_path, url))
    with app.app_context():
        ensure_demarches()
        from tests.factories import CandidatureFactory

        candidature = CandidatureFactory()
        stored = storage().save(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), max_size=1024,
                                allowed={"pdf"})
        FichierFactory(candidature_id=candidature.id, original_name="plan.pdf",
                       storage_key=stored.key, scan_status="en_attente")
        db.commit()
    app.extensions["db_engine"].dispose()
    # clamd configured, but nobody answers: the in-process scan fails
    result = flask(tmp_path, url, "analyser-fichiers", CLAMD_HOST="127.0.0.1",
                   CLAMD_PORT=str(_free_port()))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 fichier(s) remis en analyse." in result.stdout
    assert "1 tâche(s) en échec :" in result.stderr
    assert _listed(result.stderr, "antivirus.analyser(") == 1
    assert "clamd injoignable" in result.stderr
    app = create_app(base_config(tmp_path, url))
    with app.app_context():
        assert db.scalar(select(Fichier.scan_status)) == "erreur"
    app.extensions["db_engine"].dispose()
