"""The audit events of a candidature, told in French."""

from __future__ import annotations

from backoffice.models import AuditEvent
from backoffice.workflow.definitions import status_label, step_label

VERBS = {
    "ouvrir": "a ouvert la candidature",
    "soumettre": "a soumis l'étape",
    "prendre": "a pris le dossier",
    "valider": "a validé",
    "demander_complements": "a demandé des compléments",
    "rejeter": "a rejeté la candidature",
    "enregistrer_formulaire": "a enregistré le formulaire",
    "ajouter_piece": "a déposé une pièce justificative",
    "envoyer": "a envoyé la convention pour signature",
    "marquer_signee": "a enregistré la signature de la convention",
    "marquer_expiree": "a constaté l'expiration de la demande de signature",
    "marquer_refusee": "a constaté le refus de signature",
    "marquer_annulee": "a constaté l'annulation de la demande de signature",
    "demande_creee": "a créé la demande de signature Yousign",
    "envoi_echoue": "a constaté l'échec de l'envoi à Yousign",
    "documents_recus": "a joint la convention signée et le dossier de preuve",
    "deposer": "a déposé une preuve",
    "archiver": "a archivé une preuve",
    "declarer_non_applicable": "a déclaré une exigence non applicable",
    "commencer_revue": "a commencé la revue de la section",
    "juger_exigence": "a jugé une exigence",
    "demander_modifications": "a demandé des modifications",
    "rouvrir": "a rouvert la section",
    "inscrire": "a inscrit le dossier à une séance",
    "favorable": "a rendu une décision favorable",
    "defavorable": "a rendu une décision défavorable",
    "ajourner": "a ajourné le dossier",
    "emis": "a émis le document",
    "echec": "a constaté l'échec de l'émission",
    "relancer": "a relancé l'émission",
    "abandonner": "a abandonné la candidature",
    "clore_sans_suite": "a clos la candidature sans suite",
    "liberer": "a libéré le dossier",
    "confier": "a confié le dossier",
    "rendre_avis": "a rendu l'avis",
    "message_industriel": "a écrit aux vérificateurs",
    "message_ans": "a écrit à l'industriel",
    "note_interne": "a ajouté une note interne",
    "fichier_infecte": "a mis en quarantaine un fichier infecté",
}
SUBJECTS = {"section": "section", "preuves": "preuves", "pour_avis": "preuves pour avis",
            "college": "collège", "attribution": "", "messagerie": "", "candidature": "",
            "convention": "convention", "certificat": "certificat",
            "referencement": "référencement", "antivirus": ""}


def describe(event: AuditEvent) -> str:
    """'a validé — Recevabilité (En instruction → Validée)'"""
    prefix, _, verb = event.action.partition(".")
    text = VERBS.get(verb, event.action)
    subject = SUBJECTS.get(prefix, step_label(prefix))
    details = []
    if subject:
        details.append(subject if prefix in SUBJECTS else step_label(prefix))
    after, before = event.after or {}, event.before or {}
    for key in ("section", "exigence", "fichier"):
        if after.get(key):
            details.append(str(after[key]))
    if before.get("status") and after.get("status") and before["status"] != after["status"]:
        details.append(f"{status_label(before['status'])} → {status_label(after['status'])}")
    return text + (" — " + ", ".join(details) if details else "")
