"""Opening a candidature, and the terminal states reached outside the steps:
abandonnee (the vendor withdraws), close_sans_suite (ANS closes it, with a motive)."""

from __future__ import annotations

from backoffice import audit
from backoffice.db import db
from backoffice.models import Candidature, Demarche, Product, User
from backoffice.workflow import campaigns
from backoffice.workflow.base import (
    Actor,
    Industriel,
    InvalidInput,
    ensure_allowed,
    ensure_open,
    in_state,
    is_admin,
    is_industriel_of,
    is_verificateur_for,
    now,
    require_text,
    touch,
    transition,
)
from backoffice.workflow.definitions import DEMARCHES, CandidatureStatus
from backoffice.workflow.messages import post_system_message
from backoffice.workflow.steps import build_steps, close


def ouvrir(product: Product, demarche_code: str, *, actor: Industriel) -> Candidature:
    """A vendor opens a candidature for one of its products, while a campaign is open."""
    if demarche_code not in DEMARCHES:
        raise InvalidInput("unknown_demarche", f"Démarche inconnue : « {demarche_code} ».")
    ensure_allowed(product.organisation_id == actor.organisation.id)
    demarche = db.get(Demarche, demarche_code)
    if demarche is None:  # the reference data were not loaded (make db)
        raise InvalidInput("unknown_demarche", f"Démarche inconnue : « {demarche_code} ».")
    window = campaigns.ensure_window_open_for(demarche, now())
    candidature = Candidature(
        organisation_id=product.organisation_id, product=product, demarche=demarche,
        campaign_window=window, current_step=demarche.steps[0],
    )
    build_steps(candidature)
    db.add(candidature)
    db.flush()
    audit.record(actor, "candidature.ouvrir", candidature, candidature=candidature,
                 after={"demarche": demarche_code, "product": product.label})
    post_system_message(candidature, "candidature.ouverte")
    return candidature


def can_abandonner(actor: Actor, candidature: Candidature, *, check_state: bool = True) -> bool:
    return is_industriel_of(actor, candidature) and (
        not check_state or in_state(candidature, candidature, {"en_cours"}))


def can_clore_sans_suite(actor: Actor, candidature: Candidature, *,
                         check_state: bool = True) -> bool:
    return (is_admin(actor) or is_verificateur_for(actor, candidature)) and (
        not check_state or in_state(candidature, candidature, {"en_cours"}))


@transition("candidature.abandonner", "candidature", {"en_cours"}, {"abandonnee"},
            can=can_abandonner, event="candidature.abandonnee",
            verb="a abandonné la candidature")
def abandonner(candidature: Candidature, *, actor: Actor) -> None:
    """candidature: en_cours -> abandonnee (withdrawn by the vendor)."""
    ensure_allowed(can_abandonner(actor, candidature, check_state=False))
    ensure_open(candidature)
    close(candidature, CandidatureStatus.abandonnee)
    touch(candidature)
    audit.record(actor, "candidature.abandonner", candidature, candidature=candidature,
                 before={"status": "en_cours"}, after={"status": candidature.status})
    post_system_message(candidature, "candidature.abandonnee")


@transition("candidature.clore_sans_suite", "candidature", {"en_cours"}, {"close_sans_suite"},
            can=can_clore_sans_suite, event="candidature.close_sans_suite",
            verb="a clos la candidature sans suite")
def clore_sans_suite(candidature: Candidature, *, actor: User, motif: str) -> None:
    """candidature: en_cours -> close_sans_suite (closed by ANS, with a motive)."""
    ensure_allowed(can_clore_sans_suite(actor, candidature, check_state=False))
    body = require_text(motif, "Le motif de la clôture est obligatoire.")
    ensure_open(candidature)
    close(candidature, CandidatureStatus.close_sans_suite)
    touch(candidature)
    audit.record(actor, "candidature.clore_sans_suite", candidature, candidature=candidature,
                 before={"status": "en_cours"}, after={"status": candidature.status,
                                                       "motif": body})
    post_system_message(candidature, "candidature.close_sans_suite", body=body)
