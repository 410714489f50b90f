"""The columns the generator writes, per table, in the order it writes the tables."""

from __future__ import annotations

from datetime import UTC, datetime

COLUMNS: dict[str, tuple[str, ...]] = {
    "organisation": ("id", "name", "siret", "contact_email", "created_at"),
    "product": ("id", "organisation_id", "number", "name", "version", "type", "nil",
                "responsable", "description", "certifications", "qualification", "created_at"),
    "candidature": ("id", "reference", "organisation_id", "product_id", "demarche_code",
                    "campaign_window_id", "current_step", "status", "created_at", "submitted_at",
                    "last_activity_at", "closed_at", "referentiel_id", "profils",
                    "contact_email", "email_opt_in", "version"),
    "candidature_step": ("id", "candidature_id", "step", "position", "status", "assignee_id",
                         "informative", "opened_at", "submitted_at", "due_at", "paused_at",
                         "remaining_days", "decided_at", "decided_by_id", "updated_at",
                         "lead_days", "within_delay", "paused_days"),
    "step_form": ("id", "candidature_id", "step", "data", "updated_at"),
    "fichier": ("id", "candidature_id", "storage_key", "original_name", "size", "sha256",
                "kind", "content_type", "uploaded_at", "uploaded_by_user_id", "scan_status"),
    "piece": ("id", "candidature_id", "step", "type_code", "fichier_id", "archived_at"),
    "convention": ("id", "candidature_id", "signature_request_id", "sent_at", "signed_at",
                   "signed_fichier_id"),
    "section_review": ("id", "candidature_id", "code", "title", "position", "status", "round",
                       "assignee_id", "submitted_at", "decided_at", "updated_at"),
    "candidature_exigence": ("id", "section_id", "code", "title", "statement",
                             "expected_preuves", "position", "declaration_non_applicable"),
    "exigence_verdict": ("id", "exigence_id", "round", "verdict", "comment", "author_id",
                         "updated_at"),
    "preuve": ("id", "candidature_id", "exigence_id", "fichier_id", "round_added",
               "archived_at", "archived_round"),
    "message": ("id", "candidature_id", "author_kind", "author_id", "kind", "event", "subject",
                "body", "created_at", "notified_at", "reponse_attendue"),
    "message_attachment": ("message_id", "fichier_id"),
    "message_read": ("user_id", "candidature_id", "last_read_message_id"),
    "audit_event": ("id", "created_at", "actor_id", "actor_label", "action", "target_type",
                    "target_id", "candidature_id", "before", "after", "request_id",
                    "prev_hash", "hash"),
}
# The queue projection of the current step on the candidature (migration 0009), written
# when the schema has it: generated databases then match whichever code runs them.
QUEUE_PROJECTION = ("queue_since", "queue_status", "queue_assignee_id", "queue_due_at",
                    "queue_turn", "search_text")
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC).timestamp()


def _has_projection() -> bool:
    from backoffice.models import Candidature

    return all(c in Candidature.__table__.c for c in QUEUE_PROJECTION)


if _has_projection():
    COLUMNS["candidature"] += QUEUE_PROJECTION
# Written in this order (parents first).
TABLES = tuple(COLUMNS)
