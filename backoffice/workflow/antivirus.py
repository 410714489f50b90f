"""The antivirus verdict on an uploaded file (jobs.antivirus runs the scan). Until it is
"sain" a file cannot be opened; an infected one is quarantined, its uploader's thread
says so (the vendor is asked for a clean file), an audit event records it."""

from __future__ import annotations

from backoffice import audit
from backoffice.db import db
from backoffice.models import Candidature, Fichier
from backoffice.workflow.base import Systeme, TransitionError, now
from backoffice.workflow.messages import post_system_message

ANTIVIRUS = Systeme("antivirus (ClamAV)")
TO_SCAN = frozenset({"en_attente", "erreur"})


def _ensure_to_scan(fichier: Fichier) -> None:
    if fichier.deleted_at is not None or fichier.scan_status not in TO_SCAN:
        raise TransitionError("already_scanned", "Ce fichier a déjà été analysé.")


def declarer_sain(fichier: Fichier) -> None:
    """fichier: en_attente | erreur -> sain."""
    _ensure_to_scan(fichier)
    fichier.scan_status, fichier.scan_detail, fichier.scanned_at = "sain", None, now()


def declarer_erreur(fichier: Fichier, *, detail: str) -> None:
    """fichier: en_attente | erreur -> erreur (scanned again by the job's retries or
    `flask analyser-fichiers`)."""
    _ensure_to_scan(fichier)
    fichier.scan_status, fichier.scan_detail, fichier.scanned_at = "erreur", detail[:255], now()


def declarer_infecte(fichier: Fichier, *, signature: str) -> None:
    """fichier: en_attente | erreur -> infecte. The job moves the bytes to quarantine
    once this is committed."""
    _ensure_to_scan(fichier)
    before = fichier.scan_status
    fichier.scan_status, fichier.scan_detail, fichier.scanned_at = "infecte", signature, now()
    candidature = db.get(Candidature, fichier.candidature_id)
    if candidature is None:  # a file goes with its candidature (cascade)
        raise LookupError(f"fichier {fichier.id}: candidature {fichier.candidature_id} absente")
    audit.record(ANTIVIRUS, "antivirus.fichier_infecte", fichier, candidature=candidature,
                 before={"scan_status": before},
                 after={"scan_status": "infecte", "fichier": fichier.original_name,
                        "signature": signature, "sha256": fichier.sha256})
    if fichier.uploaded_by_user_id is None:  # the vendor's upload: tell them
        post_system_message(candidature, "antivirus.fichier_infecte",
                            name=fichier.original_name, signature=signature)
