"""Certificate (DMN) or référencement (SONS SAS) issuance: emission_en_cours -> emis, or
echec_emission after exhausted retries, which can be retried."""

from __future__ import annotations

from datetime import timedelta

from backoffice import audit
from backoffice.models import Candidature, Fichier, User
from backoffice.tasks import schedule
from backoffice.workflow.base import (
    Actor,
    TransitionError,
    ensure_allowed,
    ensure_open,
    ensure_status,
    in_state,
    is_admin,
    is_systeme,
    is_verificateur_for,
    now,
    touch,
    transition,
)
from backoffice.workflow.definitions import CandidatureStatus, StepKind
from backoffice.workflow.messages import post_system_message
from backoffice.workflow.steps import close

DOCUMENTS = {"certificat": "Le certificat de conformité",
             "referencement": "L'attestation de référencement"}
# the automatic message of each document (their wording agrees with the document's gender)
EVENTS = {"certificat": "emission.emis", "referencement": "emission.referencement_emis"}
FINAL = {"certificat": CandidatureStatus.certifiee,
         "referencement": CandidatureStatus.referencee}


def _issuing(candidature: Candidature, sources: set[str]) -> bool:
    step = next((s for s in candidature.steps if s.step == candidature.current_step), None)
    return step is not None and step.step in DOCUMENTS and in_state(candidature, step, sources)


def can_emission_reussie(actor: Actor, candidature: Candidature, *,
                         check_state: bool = True) -> bool:
    """Only the issuing job reports an issuance's outcome."""
    return is_systeme(actor) and (not check_state
                                  or _issuing(candidature, {"emission_en_cours"}))


can_emission_echouee = can_emission_reussie


def can_relancer(actor: Actor, candidature: Candidature, *, check_state: bool = True) -> bool:
    """The « Relancer » button: after a failure, or an issuance stuck « en cours »."""
    return (is_admin(actor) or is_verificateur_for(actor, candidature)) and (
        not check_state or _issuing(candidature, {"echec_emission"})
        or (_issuing(candidature, {"emission_en_cours"}) and bloquee(candidature)))


def _step(candidature: Candidature, statuses: set[str]):
    ensure_open(candidature)
    step = candidature.step(candidature.current_step)
    if step.step not in DOCUMENTS:
        ensure_status(step, set(), "L'étape")
    ensure_status(step, statuses, "L'émission")
    return step


@transition("emission.reussie", StepKind.emission, {"emission_en_cours"}, {"emis"},
            can=can_emission_reussie, audit="{step}.emis", event="emission.emis",
            verb="a émis le document « {step} »")
def emission_reussie(candidature: Candidature, *, actor: Actor, numero: str,
                     document: Fichier | None = None,
                     numero_referencement: str | None = None) -> None:
    """certificat | referencement: emission_en_cours -> emis; the candidature ends."""
    ensure_allowed(can_emission_reussie(actor, candidature, check_state=False))
    step = _step(candidature, {"emission_en_cours"})
    before = step.status
    step.status, step.decided_at = "emis", now()
    close(candidature, FINAL[step.step])
    touch(candidature)
    audit.record(actor, f"{step.step}.emis", step, candidature=candidature,
                 before={"status": before},
                 after={"status": step.status, "numero": numero,
                        **({"numero_referencement": numero_referencement}
                           if numero_referencement else {})})
    from backoffice.certificates import verify_url

    post_system_message(candidature, EVENTS[step.step], document=DOCUMENTS[step.step],
                        numero=numero, numero_referencement=numero_referencement or "—",
                        verification=verify_url(numero),
                        attachments=[document] if document is not None else [])


@transition("emission.echouee", StepKind.emission, {"emission_en_cours"}, {"echec_emission"},
            can=can_emission_echouee, audit="{step}.echec", event="emission.echec",
            verb="a constaté l'échec de l'émission")
def emission_echouee(candidature: Candidature, *, actor: Actor, erreur: str) -> None:
    """certificat | referencement: emission_en_cours -> echec_emission (retries exhausted)."""
    ensure_allowed(can_emission_echouee(actor, candidature, check_state=False))
    step = _step(candidature, {"emission_en_cours"})
    before, step.status = step.status, "echec_emission"
    touch(candidature)
    audit.record(actor, f"{step.step}.echec", step, candidature=candidature,
                 before={"status": before}, after={"status": step.status, "erreur": erreur})
    post_system_message(candidature, "emission.echec")


def retry_after() -> timedelta:
    """How long an issuance may stay « en cours » before « Relancer » is offered (the
    periodic job queues it again after the same time)."""
    from jobs import _settings

    return timedelta(minutes=_settings.number("ISSUANCE_RETRY_AFTER_MINUTES", 30))


def en_echec(candidature: Candidature) -> bool:
    """The issuance failed after its retries (« Échec de l'émission »): the dossier says so,
    and offers « Relancer » to whoever `can_relancer`."""
    return candidature.status == "en_cours" and _issuing(candidature, {"echec_emission"})


def bloquee(candidature: Candidature) -> bool:
    """The issuance has been « en cours » longer than ISSUANCE_RETRY_AFTER_MINUTES: its job
    was lost (queue emptied, worker killed) or is failing; it can be queued again."""
    step = candidature.current
    if candidature.status != "en_cours" or step is None or step.step not in DOCUMENTS or \
            step.status != "emission_en_cours":
        return False
    since = candidature.last_activity_at or candidature.created_at
    return since is not None and since <= now() - retry_after()


@transition("emission.relancer", StepKind.emission, {"echec_emission", "emission_en_cours"},
            {"emission_en_cours"}, can=can_relancer, audit="{step}.relancer",
            verb="a relancé l'émission")
def relancer(candidature: Candidature, *, actor: User) -> None:
    """certificat | referencement: echec_emission | emission_en_cours (stuck for longer than
    ISSUANCE_RETRY_AFTER_MINUTES) -> emission_en_cours ("Relancer")."""
    ensure_allowed(can_relancer(actor, candidature, check_state=False))
    step = _step(candidature, {"echec_emission", "emission_en_cours"})
    if step.status == "emission_en_cours" and not bloquee(candidature):
        minutes = int(retry_after().total_seconds() // 60)
        raise TransitionError(
            "emission_recente", "L'émission est en cours depuis peu : elle pourra être "
            f"relancée si elle n'a pas abouti dans {minutes} minutes.")
    before, step.status = step.status, "emission_en_cours"
    touch(candidature)
    audit.record(actor, f"{step.step}.relancer", step, candidature=candidature,
                 before={"status": before}, after={"status": step.status})
    schedule("certificats.emettre", candidature.id)
