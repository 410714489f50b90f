"""The automatic messages each transition posts to the candidature's thread (French;
admins will edit them with the messagerie issue)."""

from __future__ import annotations

from collections.abc import Sequence

from backoffice.db import db, utcnow
from backoffice.models import Candidature, Fichier, Message, OutboxMail
from backoffice.tasks import schedule

TEXTS: dict[str, tuple[str, str]] = {
    "candidature.ouverte": ("Candidature créée", "Votre candidature {reference} a été créée."),
    "form.soumise": ("{step} : dossier soumis",
                     "Votre dossier pour l'étape « {step} » a bien été reçu. Il sera instruit "
                     "par un vérificateur de l'ANS."),
    "form.resoumise": ("{step} : compléments reçus",
                       "Vos compléments pour l'étape « {step} » ont bien été reçus."),
    "form.prise": ("{step} : en instruction",
                   "Votre dossier pour l'étape « {step} » est en cours d'instruction."),
    "form.validee": ("{step} : validée", "L'étape « {step} » est validée.{extra}"),
    "form.complements_demandes": ("{step} : compléments demandés", "{body}"),
    "form.rejetee": ("{step} : candidature rejetée",
                     "Votre candidature n'a pas été retenue à l'étape « {step} ».\n\n"
                     "Motif : {body}"),
    "convention.envoyee": ("Convention envoyée pour signature",
                           "La convention vous a été envoyée pour signature électronique "
                           "(Yousign). Consultez votre messagerie électronique."),
    "convention.signee": ("Convention signée", "La convention a été signée par les parties."),
    "convention.expiree": ("Convention expirée",
                           "La demande de signature de la convention a expiré. Elle vous sera "
                           "renvoyée."),
    "convention.refusee": ("Convention refusée", "La signature de la convention a été refusée."),
    "convention.validee": ("Convention validée",
                           "La convention est validée : vous pouvez déposer vos preuves."),
    "section.soumise": ("Section {section} soumise",
                        "La section {section} a été soumise pour revue (tour {round})."),
    "section.validee": ("Section {section} validée", "La section {section} est validée."),
    "section.modifications_demandees": ("Section {section} : modifications demandées",
                                        "{body}"),
    "preuves.validees": ("Preuves validées",
                         "Toutes les sections sont validées.{extra}"),
    "pour_avis.deposees": ("Preuves pour avis reçues",
                           "Votre archive « {name} » a bien été reçue."),
    "pour_avis.avis_rendu": ("Avis rendu", "{body}"),
    "college.inscrite": ("Collège de certification",
                         "Votre dossier est inscrit à l'ordre du jour d'une séance du collège de "
                         "certification."),
    "college.favorable": ("Décision favorable du collège",
                          "Le collège de certification a rendu une décision favorable. Le "
                          "certificat est en cours d'émission."),
    "college.defavorable": ("Décision défavorable du collège",
                            "Le collège de certification a rendu une décision défavorable.\n\n"
                            "Motif : {body}"),
    "college.ajournee": ("Dossier ajourné par le collège", "{body}"),
    "emission.emis": ("{document} émis",
                      "{document} a été émis sous le numéro {numero}. Il est joint à ce message "
                      "dans votre messagerie Convergence ; son authenticité se vérifie en "
                      "ligne."),
    "emission.echec": ("Émission retardée",
                       "L'émission du document rencontre un incident technique ; l'ANS a été "
                       "prévenue."),
    "support.fichier_supprime": ("Fichier supprimé : {name}",
                                 "À votre demande ({demande}), le support Convergence a "
                                 "supprimé le fichier « {name} ».\n\nMotif : {body}"),
    "antivirus.fichier_infecte": ("Fichier mis en quarantaine : {name}",
                                  "L'analyse antivirus du fichier « {name} » que vous avez "
                                  "déposé a détecté un contenu malveillant (signature "
                                  "{signature}). Le fichier a été mis en quarantaine : il ne "
                                  "sera pas examiné par les vérificateurs.\n\nVérifiez le poste "
                                  "d'où il provient, puis déposez une version saine du "
                                  "fichier."),
    "candidature.abandonnee": ("Candidature abandonnée", "La candidature a été abandonnée."),
    "candidature.close_sans_suite": ("Candidature close sans suite", "Motif : {body}"),
}

# Internal outcomes the vendor is not e-mailed about.
NOT_NOTIFIED = {"emission.echec"}


def _template(event: str) -> tuple[str, str]:
    """The admin's wording if there is one, else the built-in text."""
    from backoffice.models import MessageTemplate

    custom = db.get(MessageTemplate, event)
    return (custom.subject, custom.body) if custom is not None else TEXTS[event]


class _Values(dict):
    """str.format_map that leaves unknown placeholders (an admin's typo) visible."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def post_system_message(candidature: Candidature, event: str, *,
                        attachments: Sequence[Fichier] = (), **values: object) -> Message:
    """Post the automatic message of `event` (with its attachments); e-mail it (outbox) if
    the contact agreed."""
    subject, body = _template(event)
    values.setdefault("reference", candidature.reference)
    values.setdefault("extra", "")
    message = Message(
        candidature_id=candidature.id,
        author_kind="systeme",
        kind="automatique",
        event=event,
        subject=subject.format_map(_Values(values)),
        body=body.format_map(_Values(values)),
        created_at=utcnow(),
        attachments=list(attachments),
    )
    db.add(message)
    db.flush()
    if event not in NOT_NOTIFIED:
        queue_email(candidature, message)
    return message


def queue_email(candidature: Candidature, message: Message) -> OutboxMail | None:
    """Write the e-mail in the outbox, in the message's transaction (never lost), and
    have it sent after commit."""
    if not (candidature.email_opt_in and candidature.contact_email) or \
            not message.visible_to_vendor:
        return None
    mail = OutboxMail(
        message_id=message.id, recipient=candidature.contact_email,
        subject=f"[Convergence {candidature.reference}] {message.subject}".strip(),
        body=(f"{message.body}\n\n--\nCandidature {candidature.reference} — retrouvez "
              "l'ensemble des échanges dans votre messagerie Convergence.\n"),
    )
    db.add(mail)
    db.flush()
    schedule("notifications.envoyer", mail.id)
    return mail
