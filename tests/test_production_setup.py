"""A production brought up from an empty database, as README's production block does it,
without seed-demo: `init-db` (the `make db` command, in a subprocess) creates and
migrates the database and loads the reference data; the CLI creates the administrator,
the vérificateurs and the portal's API token; the administrator opens the campaign
windows and creates the teams in the admin area; then one candidature of each of the
five démarches goes from its opening (intake API, as the vendor) to its first decision
(back-office pages, as a vérificateur). A second `init-db` in the middle changes nothing
and the candidatures in flight carry on."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from backoffice import create_app
from backoffice.db import db
from backoffice.models import (
    AuditEvent,
    CampaignWindow,
    DelayRule,
    Demarche,
    MessageTemplate,
    Organisation,
    PieceType,
    Profil,
    ReferenceSnapshot,
    Referentiel,
    ReferentielExigence,
    User,
)
from config import normalise_database_url
from tests.conftest import BACKENDS, TEST_DATABASE_URL, base_config, missing_tier
from tests.helpers import csrf_token, login_enrolling

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
REFERENCE_TABLES = (Demarche, DelayRule, PieceType, MessageTemplate, Referentiel, Profil,
                    ReferentielExigence, ReferenceSnapshot)

# (démarche, first step, the vérificateur's decision)
JOURNEYS = [
    ("dmn_nom_de_marque", "recevabilite", "valider"),
    ("dmn_pecan", "recevabilite", "valider"),
    ("dmn_pect", "recevabilite", "rejeter"),
    ("dmn_ligne_generique", "recevabilite", "valider"),
    ("sons_sas", "depot", "valider"),
]


def empty_database_url(backend: str, tmp: Path, name: str) -> str:
    """The URL of a database that does not exist yet (init-db must create it)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'production.sqlite3'}"
    if not TEST_DATABASE_URL:
        missing_tier("TEST_DATABASE_URL is not set (PostgreSQL tier)")
    url = create_engine(normalise_database_url(TEST_DATABASE_URL)).url
    drop_database(url.render_as_string(hide_password=False), name)
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    admin = create_engine(normalise_database_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


def flask_cli(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`flask --app backoffice …` as `make db` runs it, in its own process."""
    env = {**os.environ, "DATABASE_URL": url, "INSTANCE_DIR": str(tmp / "instance"),
           "STORAGE_DIR": str(tmp / "storage")}
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "backoffice", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def reference_counts(app: Any) -> dict[str, int]:
    with app.app_context():
        counts = {m.__tablename__: db.scalar(select(func.count()).select_from(m))
                  for m in REFERENCE_TABLES}
        db.remove()
        return counts


def required_pieces(parcours: str, step: str) -> list[str]:
    """What the portal knows it must send: the data file ANS publishes."""
    pieces = json.loads((DATA / "pieces.json").read_text())["pieces"]
    return [p["code"] for p in pieces
            if p["parcours"] == parcours and p["step"] == step and p["required"]]


class Vendor:
    """The portal, speaking to the intake API with the token the CLI printed."""

    def __init__(self, client: Any, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expected: int, **kwargs: Any) -> Any:
        response = self.client.open(f"/api/v1{path}", method=method, headers=self.headers,
                                    **kwargs)
        assert response.status_code == expected, (path, response.status_code, response.json)
        return response.json

    def open_and_submit(self, demarche: str, step: str, profils: list[str]) -> str:
        product = self.call("POST", "/products", 201, json={
            "name": "Télésuivi", "version": "v1.0", "type": "socle", "nil": "NIL-7",
            "responsable": "Jeanne Martin", "description": "Télésurveillance",
            "certifications": [], "qualification": {f"q{i}": "oui" for i in range(1, 6)}})
        reference = self.call("POST", "/candidatures", 201, json={
            "product_id": product["id"], "demarche": demarche})["reference"]
        self.call("PUT", f"/candidatures/{reference}/forms/{step}", 200, json={
            "responsable_legal": {"nom": "Martin", "prenom": "Jeanne",
                                  "fonction": "Présidente"},
            "contact": {"nom": "Durand", "prenom": "Paul",
                        "email": "contact@editeur.example.fr"},
            "entreprise": {"raison_sociale": "Éditeur", "siret": "12345678900011"},
            "produit": {"nom": "Télésuivi", "version": "v1.0"},
            "profils": profils, "consentement_email": True})
        parcours = "segur" if demarche == "sons_sas" else "dmn"
        for piece in required_pieces(parcours, step):
            self.call("POST", f"/candidatures/{reference}/pieces", 201,
                      data={"file": (io.BytesIO(PDF), f"{piece}.pdf"), "type": piece,
                            "step": step}, content_type="multipart/form-data")
        submitted = self.call("POST", f"/candidatures/{reference}/steps/{step}/submit", 200)
        assert submitted["steps"][0]["status"] == "soumise"
        assert submitted["steps"][0]["due_at"] is not None  # the delay rule applies
        return reference


def admin_form(client: Any, path: str, data: dict[str, Any]) -> None:
    response = client.post(path, data={**data, "csrf_token": csrf_token(client, path)})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]


@pytest.fixture(params=BACKENDS)
def production(request, tmp_path):
    """An empty database (PostgreSQL: not even created) and the app that will serve it."""
    name = f"backoffice_test_production_{os.getpid()}"
    url = empty_database_url(request.param, tmp_path, name)
    app = create_app({**base_config(tmp_path, normalise_database_url(url)),
                      "PASSWORD_HASH_FAST": True})
    yield SimpleNamespace(url=url, app=app, tmp=tmp_path, backend=request.param)
    app.extensions["db_engine"].dispose()
    if request.param == "postgresql":
        drop_database(TEST_DATABASE_URL, name)


def test_from_an_empty_database_to_a_first_decision_in_each_demarche(production) -> None:
    app, url, tmp = production.app, production.url, production.tmp

    # make db: the database is created (PostgreSQL), migrated, the reference data loaded
    first = flask_cli(url, tmp, "init-db")
    assert first.returncode == 0, first.stderr
    if production.backend == "postgresql":
        assert "créée" in first.stdout
    assert "Schéma : créé (révision" in first.stdout and "créé(s)" in first.stdout
    loaded = reference_counts(app)
    assert loaded["demarche"] == 5 and loaded["referentiel"] == 2
    assert all(loaded.values()), loaded
    with app.app_context():  # nothing of the demo
        assert db.scalar(select(func.count()).select_from(User)) == 0
        assert db.scalar(select(func.count()).select_from(Organisation)) == 0
        assert db.scalar(select(func.count()).select_from(CampaignWindow)) == 0
        # the installation itself is not an event of the audit trail (a restore may follow)
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0
        db.remove()

    # the CLI: the first administrator, the vérificateurs, the portal's token
    cli = app.test_cli_runner()
    passwords = {}
    for email, role in (("admin@ans.example.fr", "admin"), ("verif.dmn@ans.example.fr",
                        "verificateur"), ("verif.segur@ans.example.fr", "verificateur")):
        result = cli.invoke(args=["create-user", "--email", email, "--name", email.split("@")[0],
                                  "--role", role])
        assert result.exit_code == 0, result.output
        passwords[email] = re.search(r"Mot de passe : (\S+)", result.output).group(1)
    result = cli.invoke(args=["create-api-token", "--organisation", "Careoptim", "--siret",
                              "12345678900011", "--name", "Portail Convergence"])
    assert result.exit_code == 0, result.output
    token = re.search(r"(cvg_\S+)", result.output).group(1)

    # the administrator, in the admin area: teams and campaign windows
    admin = app.test_client()
    login_enrolling(admin, SimpleNamespace(email="admin@ans.example.fr"),
                    passwords["admin@ans.example.fr"])
    with app.app_context():
        users = {u.email: u.id for u in db.scalars(select(User))}
        db.remove()
    for team, parcours, email in (("Équipe DMN", "dmn", "verif.dmn@ans.example.fr"),
                                  ("Équipe Ségur", "segur", "verif.segur@ans.example.fr")):
        admin_form(admin, "/admin/team/new/", {"name": team, "parcours": parcours,
                                               "members": [str(users[email])]})
    vendor = Vendor(app.test_client(), token)
    refused = vendor.client.post("/api/v1/candidatures", headers=vendor.headers,
                                 json={"product_id": 1, "demarche": "dmn_pecan"})
    assert refused.status_code in (404, 409, 422) and refused.json["code"]  # no 500
    for demarche, _step, _decision in JOURNEYS:
        admin_form(admin, "/admin/campaignwindow/new/", {
            "demarche": demarche, "label": f"Campagne 2026 — {demarche}",
            "opens_at": "2026-01-01T09:00", "closes_at": "2099-12-14T14:00"})

    # the vendor opens and submits one candidature in each démarche
    references = {}
    for demarche, step, _decision in JOURNEYS:
        profils = ["GENERAL"] if demarche == "sons_sas" else ["GEN"]
        references[demarche] = vendor.open_and_submit(demarche, step, profils)

    # a second `make db` while they wait: nothing changes
    second = flask_cli(url, tmp, "init-db")
    assert second.returncode == 0, second.stderr
    assert "déjà à jour" in second.stdout and "créé(s)" not in second.stdout, second.stdout
    assert reference_counts(app) == loaded

    # each vérificateur takes and decides, through the back-office pages
    agents = {}
    for email in ("verif.dmn@ans.example.fr", "verif.segur@ans.example.fr"):
        agents[email] = app.test_client()
        login_enrolling(agents[email], SimpleNamespace(email=email), passwords[email])
    for demarche, step, decision in JOURNEYS:
        reference = references[demarche]
        agent = agents["verif.segur@ans.example.fr" if demarche == "sons_sas"
                       else "verif.dmn@ans.example.fr"]
        queue = agent.get("/instruction/file").get_data(as_text=True)
        assert reference in queue
        dossier = f"/instruction/candidatures/{reference}"
        assert agent.get(dossier).status_code == 200
        taken = agent.post(f"{dossier}/prendre", data={"csrf_token": csrf_token(agent, dossier)})
        assert taken.status_code == 302
        data = {"csrf_token": csrf_token(agent, dossier)}
        if decision == "rejeter":
            data.update(motif="Le dispositif ne relève pas du champ de la démarche.",
                        confirmation="y")
        decided = agent.post(f"{dossier}/{step}/{decision}", data=data)
        assert decided.status_code == 302, decided.get_data(as_text=True)[-2000:]

        state = vendor.call("GET", f"/candidatures/{reference}", 200)
        first_step = state["steps"][0]
        assert first_step["step"] == step
        assert first_step["status"] == ("rejetee" if decision == "rejeter" else "validee")
        if decision == "valider":
            assert state["steps"][1]["status"] != "a_venir"  # the next step opened
        else:
            assert state["status"] == "rejetee"
        messages = vendor.call("GET", f"/candidatures/{reference}/messages", 200)
        assert any("rejetée" in m["subject"] or "validée" in m["subject"]
                   for m in messages["items"]), messages  # the loaded wording, posted
