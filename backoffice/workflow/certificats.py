"""The life of an issued certificate (DMN) or attestation de référencement (SONS SAS):
an admin suspends, withdraws or reinstates it with a motive. The public verification page
and the API read its status at once; the vendor is told in the candidature's thread."""

from __future__ import annotations

from sqlalchemy import select

from backoffice import audit
from backoffice.db import db
from backoffice.models import Candidature, Certificat
from backoffice.workflow.base import (
    Actor,
    TransitionError,
    ensure_allowed,
    is_admin,
    now,
    require_text,
    touch,
    transition,
)
from backoffice.workflow.messages import post_system_message

LABELS = {"valide": "valide", "suspendu": "suspendu", "retire": "retiré"}
DOCUMENTS = {"certificat": "certificat de conformité",
             "referencement": "attestation de référencement"}


def load_for_update(certificat_id: int) -> Certificat | None:
    """The certificate, row-locked until the transaction ends (PostgreSQL): two admins
    acting at once are served one after the other, the second sees the new status."""
    return db.scalar(select(Certificat).where(Certificat.id == certificat_id)
                     .with_for_update())


def can_changer_statut(actor: Actor, certificat: Certificat | None = None) -> bool:
    """Who suspends, withdraws and reinstates certificates: an administrator."""
    return is_admin(actor)


def _ensure_status(certificat: Certificat, allowed: set[str]) -> None:
    if certificat.status not in allowed:
        raise TransitionError(
            "invalid_status",
            f"Le {DOCUMENTS[certificat.kind]} {certificat.number} est "
            f"« {LABELS[certificat.status]} » : cette action n'est pas possible.")


def _change(certificat: Certificat, target: str, *, actor: Actor, motif: str | None,
            allowed: set[str], event: str) -> None:
    ensure_allowed(can_changer_statut(actor, certificat))
    _ensure_status(certificat, allowed)
    motif = require_text(motif, "Le motif est obligatoire.")
    candidature = db.get(Candidature, certificat.candidature_id)
    if candidature is None:  # a certificate's candidature is never deleted (foreign key)
        raise LookupError(f"certificat {certificat.id}: candidature absente")
    before = {"status": certificat.status, "motive": certificat.status_motive}
    certificat.status, certificat.status_motive = target, motif
    certificat.status_changed_at = now()
    touch(candidature)
    audit.record(actor, event, certificat, candidature=candidature, before=before,
                 after={"status": target, "motive": motif})
    post_system_message(candidature, f"certificat.{target}", body=motif,
                        document=DOCUMENTS[certificat.kind], numero=certificat.number)


def _can(sources: set[str]):
    def can(actor: Actor, candidature: Candidature | None = None,
            certificat: Certificat | None = None, *, check_state: bool = True) -> bool:
        """An administrator, on a certificate in one of the transition's source statuses."""
        return can_changer_statut(actor, certificat) and (
            not check_state or (certificat is not None and certificat.status in sources))

    return can


can_suspendre = _can({"valide"})
can_retirer = _can({"valide", "suspendu"})
can_retablir = _can({"suspendu"})


@transition("certificat.suspendre", "certificat", {"valide"}, {"suspendu"},
            can=can_suspendre, event="certificat.suspendu", verb="a suspendu le document délivré")
def suspendre(certificat: Certificat, *, actor: Actor, motif: str) -> None:
    """certificat: valide -> suspendu."""
    _change(certificat, "suspendu", actor=actor, motif=motif, allowed={"valide"},
            event="certificat.suspendre")


@transition("certificat.retirer", "certificat", {"valide", "suspendu"}, {"retire"},
            can=can_retirer, event="certificat.retire", verb="a retiré le document délivré")
def retirer(certificat: Certificat, *, actor: Actor, motif: str) -> None:
    """certificat: valide | suspendu -> retire (final)."""
    _change(certificat, "retire", actor=actor, motif=motif, allowed={"valide", "suspendu"},
            event="certificat.retirer")


@transition("certificat.retablir", "certificat", {"suspendu"}, {"valide"},
            can=can_retablir, event="certificat.valide", verb="a rétabli le document délivré")
def retablir(certificat: Certificat, *, actor: Actor, motif: str) -> None:
    """certificat: suspendu -> valide."""
    _change(certificat, "valide", actor=actor, motif=motif, allowed={"suspendu"},
            event="certificat.retablir")


# The admin form names the status wanted; each status is reached by one transition.
BY_TARGET = {"suspendu": suspendre, "retire": retirer, "valide": retablir}


def targets(actor: Actor, certificat: Certificat) -> list[str]:
    """The statuses `actor` may move `certificat` to now (the form offers only these)."""
    if not can_changer_statut(actor, certificat):
        return []
    return [target for target, fn in BY_TARGET.items()
            if certificat.status in fn.transition.sources]  # type: ignore[attr-defined]
