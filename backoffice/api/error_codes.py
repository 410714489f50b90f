"""Every error `code` the intake API can answer, with its HTTP status and what it means:
published in the OpenAPI document (`x-error-codes` of the Error schema) and in docs/api.md.
tests/api/test_contract.py finds every code raised by backoffice/api, the workflow and the
file store, and fails when one is in neither this table nor BACKOFFICE_ONLY."""

from __future__ import annotations

ERROR_CODES: dict[str, tuple[int, str]] = {
    # the request itself
    "bad_request": (400, "Requête invalide."),
    "malformed_json": (400, "Corps non UTF-8 ou JSON invalide."),
    "invalid_json": (400, "Webhook : corps JSON invalide."),
    "invalid_payload": (400, "Webhook : événement illisible (objet attendu, identifiant "
                             "absent, vide ou de plus de 100 caractères)."),
    "unknown_event": (400, "Webhook : événement Yousign non pris en charge."),
    "unauthorized": (401, "Jeton d'accès absent, invalide ou révoqué."),
    "invalid_signature": (401, "Webhook : signature HMAC invalide."),
    "forbidden": (403, "Action non autorisée."),
    "not_allowed": (403, "Action non autorisée à cette organisation ou dans cet état."),
    "not_found": (404, "Ressource introuvable (ou d'une autre organisation)."),
    "unknown_section": (404, "Section inconnue pour cette candidature."),
    "unknown_exigence": (404, "Exigence inconnue dans cette section."),
    "method_not_allowed": (405, "Méthode non autorisée sur cette ressource."),
    # the state of the candidature
    "conflict": (409, "La candidature vient d'être modifiée par ailleurs : réessayez."),
    "invalid_status": (409, "L'étape ou la section n'est pas dans un état qui le permet."),
    "candidature_closed": (409, "La candidature est close."),
    "campaign_closed": (409, "La fenêtre de dépôt de la démarche est fermée."),
    "demarche_closed": (409, "La démarche n'accepte plus de candidatures."),
    "already_archived": (409, "La preuve est déjà archivée."),
    "file_not_available": (409, "Le fichier ne peut pas être ouvert (details.reason : "
                                "en_attente, erreur, infecte ou supprime)."),
    "no_form_step": (409, "La candidature n'est pas à une étape de formulaire."),
    "not_pour_avis": (409, "La candidature n'attend pas le zip des preuves pour avis."),
    "recevabilite_not_submitted": (409, "Le zip des preuves pour avis se dépose une fois le "
                                        "formulaire de recevabilité soumis."),
    "idempotency_key_in_progress": (409, "Une requête avec cette clé d'idempotence est en "
                                         "cours."),
    # sizes and types
    "file_too_large": (413, "Fichier ou requête trop volumineux."),
    "form_too_large": (413, "Le formulaire dépasse 256 Ko."),
    "json_too_large": (413, "Le corps JSON dépasse 1 Mo."),
    "unsupported_media_type": (415, "Type de contenu non accepté (ni JSON, ni multipart)."),
    "unsupported_type": (415, "Contenu de fichier non accepté."),
    # the content
    "validation_error": (422, "Champs invalides : details.fields les nomme."),
    "json_too_deep": (422, "JSON imbriqué sur plus de 32 niveaux."),
    "invalid_number": (422, "Nombre non fini ou entier de plus de 18 chiffres."),
    "invalid_characters": (422, "Caractère de contrôle ou substitut UTF-16 isolé."),
    "incomplete": (422, "L'étape ne peut pas être soumise : le message dit ce qui manque "
                        "(blocs, champs obligatoires, pièces)."),
    "incomplete_section": (422, "Chaque exigence de la section doit avoir une preuve ou une "
                                "déclaration de non-applicabilité."),
    "invalid_profils": (422, "Les profils sont une liste de codes."),
    "unknown_profil": (422, "Profil inconnu du référentiel en vigueur."),
    "unknown_piece_type": (422, "Type de pièce inconnu pour cette étape."),
    "unknown_step": (422, "Étape inconnue pour cette candidature."),
    "unknown_demarche": (422, "Démarche inconnue."),
    "justification_required": (422, "La déclaration de non-applicabilité demande une "
                                    "justification."),
    "too_many_attachments": (422, "Trop de pièces jointes au message."),
    "empty_file": (422, "Fichier vide."),
    "unsafe_archive": (422, "Archive refusée (bombe de décompression, chemin dangereux…)."),
    "storage_error": (500, "Le fichier n'a pas pu être enregistré (erreur du stockage)."),
    "idempotency_key_reused": (422, "Clé d'idempotence déjà utilisée pour une autre requête."),
    "invalid_idempotency_key": (422, "Clé d'idempotence invalide (1 à 200 caractères)."),
    "invalid_cursor": (422, "Curseur de pagination invalide."),
    "invalid_limit": (422, "Taille de page invalide (1 à 200)."),
    "missing_text": (422, "Texte obligatoire manquant."),
    # the service
    "webhook_not_configured": (503, "Webhook Yousign non configuré."),
    "service_unavailable": (503, "Service surchargé ou indisponible, requête non traitée : "
                                 "la renouveler après `Retry-After` secondes."),
}

# Codes the workflow raises only for back-office users (vérificateurs, collège, support,
# admins): no API call reaches them.
BACKOFFICE_ONLY = frozenset({
    "conflict_already_declared", "seance_not_started",  # collège pages
    "already_decided", "already_deleted", "already_done", "already_scanned", "ans_document",
    "assigned_to_someone_else", "comment_required", "conflict_of_interest", "emission_recente",
    "empty_workbook",
    "exigences_not_accepted", "invalid_decision", "invalid_members", "invalid_president",
    "verdict_required",  # the section review form (reviewer/section_form.py)
    "invalid_quorum", "invalid_verdict", "invalid_vote", "invalid_workbook", "missing_columns",
    "no_non_conforme", "no_referentiel", "no_signer", "no_zip", "not_a_colleague",
    "not_assigned", "not_assignee", "not_sending", "quorum_not_reached", "seance_closed",
    "sections_not_validated", "signed_file_required", "undecided_items", "validated_round",
    "version_exists",
    "yousign_not_configured",
})
