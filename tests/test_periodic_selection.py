"""What the periodic jobs pick up: only issuances stuck longer than
ISSUANCE_RETRY_AFTER_MINUTES and scans waiting (or failed) longer than
ANTIVIRUS_RETRY_AFTER_MINUTES — a fresh one is still in its queue; the manual commands
take them all. Both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

import backoffice.tasks
from backoffice.db import db, utcnow
from jobs import antivirus as antivirus_jobs
from jobs import certificats
from tests.factories import CandidatureFactory, FichierFactory


@pytest.fixture
def queued(monkeypatch):
    """The jobs the rattrapages queue (recorded, not run)."""
    calls: list[tuple] = []
    monkeypatch.setattr(backoffice.tasks, "enqueue", lambda *args: calls.append(args))
    return calls


def test_only_issuances_stuck_long_enough_are_queued_again(ctx, queued, monkeypatch) -> None:
    stuck = CandidatureFactory(demarche_code="dmn_pecan", at="certificat",
                               status_at_step="emission_en_cours")
    fresh = CandidatureFactory(demarche_code="dmn_pecan", at="certificat",
                               status_at_step="emission_en_cours")
    CandidatureFactory(demarche_code="dmn_pecan", at="certificat",
                       status_at_step="echec_emission",
                       last_activity_at=utcnow() - timedelta(days=1))  # a person retries it
    stuck.last_activity_at = utcnow() - timedelta(minutes=31)
    fresh.last_activity_at = utcnow() - timedelta(minutes=29)
    db.flush()
    assert certificats.rattraper_bloquees() == 1
    assert queued == [("certificats.emettre", stuck.id)]
    monkeypatch.setenv("ISSUANCE_RETRY_AFTER_MINUTES", "10")
    queued.clear()
    assert certificats.rattraper_bloquees() == 2
    queued.clear()
    assert certificats.rattraper() == 2  # by hand: all of them
    assert sorted(i for _, i in queued) == sorted([stuck.id, fresh.id])


def test_only_scans_late_enough_are_queued_again(app, ctx, queued, monkeypatch) -> None:
    candidature = CandidatureFactory()
    old, recent = utcnow() - timedelta(minutes=20), utcnow() - timedelta(minutes=5)

    def fichier(status: str, **times) -> int:
        return FichierFactory(candidature_id=candidature.id, scan_status=status, **times).id

    waiting_long = fichier("en_attente", uploaded_at=old)
    fichier("en_attente", uploaded_at=recent)
    failed_long = fichier("erreur", uploaded_at=old, scanned_at=old)
    fichier("erreur", uploaded_at=old, scanned_at=recent)
    fichier("sain", uploaded_at=old, scanned_at=old)
    FichierFactory(candidature_id=candidature.id, scan_status="en_attente", uploaded_at=old,
                   deleted_at=recent)
    db.flush()
    assert antivirus_jobs.rattraper_en_retard() == 0  # no antivirus configured: nothing
    assert queued == []
    monkeypatch.setitem(app.config, "CLAMD_HOST", "127.0.0.1")
    assert antivirus_jobs.rattraper_en_retard() == 2
    assert queued == [("antivirus.analyser", waiting_long), ("antivirus.analyser", failed_long)]
    queued.clear()
    assert antivirus_jobs.rattraper() == 4  # by hand: every one waiting or failed
