"""What every transition shares: actors, errors, state checks, the registry that lets the
tests walk every (transition, source status) pair."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backoffice.db import db, utcnow
from backoffice.domain import (  # noqa: F401 - the workflow's errors, re-exported
    InvalidInput,
    NotAllowed,
    TransitionError,
    UnknownStep,
)
from backoffice.models import Candidature, Organisation, User
from backoffice.workflow.definitions import DEMARCHES, CandidatureStatus, status_label


@dataclass(frozen=True)
class Industriel:
    """The vendor, acting through the intake API with its organisation's token."""

    organisation: Organisation

    @property
    def label(self) -> str:
        return f"industriel : {self.organisation.name}"


@dataclass(frozen=True)
class Systeme:
    """Webhooks and jobs."""

    origin: str = "système"

    @property
    def label(self) -> str:
        return self.origin


SYSTEME = Systeme()
Actor = User | Industriel | Systeme


def now() -> datetime:
    return utcnow()


def ensure_allowed(allowed: bool, message: str = "Vous n'avez pas le droit de faire cela.") -> None:
    if not allowed:
        raise NotAllowed("not_allowed", message)


def ensure_status(obj: Any, allowed: Iterable[str], what: str = "L'étape") -> None:
    allowed = set(allowed)
    if obj.status not in allowed:
        raise TransitionError(
            "invalid_status",
            f"{what} est « {status_label(obj.status)} » : cette action n'est plus possible. "
            "Rechargez la page pour voir son état actuel.",
        )


def ensure_open(candidature: Candidature) -> None:
    if candidature.status != CandidatureStatus.en_cours:
        raise TransitionError(
            "candidature_closed",
            "Cette candidature est close : plus aucune action n'est possible.",
        )


def require_text(value: str | None, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput("missing_text", message)
    return value


def touch(candidature: Candidature) -> None:
    """Every transition bumps the candidature's version (optimistic lock) and activity."""
    candidature.last_activity_at = now()  # an UPDATE, so version_id_col is checked and bumped


def load_for_update(reference: str, organisation_id: int | None = None) -> Candidature | None:
    """The candidature, row-locked until the transaction ends (PostgreSQL): a second actor
    waits, then sees the new state and gets a clear refusal."""
    stmt = (
        select(Candidature)
        .where(Candidature.reference == reference)
        .options(selectinload(Candidature.steps))
        .with_for_update(of=Candidature)
    )
    if organisation_id is not None:
        stmt = stmt.where(Candidature.organisation_id == organisation_id)
    return db.scalar(stmt)


# --- roles -------------------------------------------------------------------------


def is_verificateur_for(actor: Actor, candidature: Candidature) -> TypeGuard[User]:
    """A vérificateur of a team of the candidature's parcours."""
    return (
        isinstance(actor, User)
        and actor.active
        and actor.has_role("verificateur")
        and DEMARCHES[candidature.demarche_code].parcours.value in actor.parcours
    )


def is_industriel_of(actor: Actor, candidature: Candidature) -> bool:
    return isinstance(actor, Industriel) and actor.organisation.id == candidature.organisation_id


def is_college(actor: Actor) -> bool:
    return isinstance(actor, User) and actor.active and actor.has_role("college")


def is_admin(actor: Actor) -> bool:
    return isinstance(actor, User) and actor.active and actor.has_role("admin")


def is_systeme(actor: Actor) -> bool:
    return isinstance(actor, Systeme)


# --- registry ----------------------------------------------------------------------


@dataclass(frozen=True)
class TransitionInfo:
    """One registered transition: what the tests walk, what the pages ask, what the
    history tells. `can(actor, candidature, *args)` is true exactly when the call would
    pass its guard (role and state); `audit` is the audit action (``{step}`` stands for
    the step's code), `event` the automatic message's event (None: no message), `verb`
    the French sentence of the history (« a validé l'étape »)."""

    name: str
    kind: str  # a StepKind value, or "section" / "candidature"
    sources: frozenset[str]
    targets: frozenset[str] = field(default_factory=frozenset)
    can: Callable[..., bool] | None = None
    audit: str = ""
    event: str | None = None
    verb: str = ""
    fn: Callable[..., Any] | None = None


TRANSITIONS: dict[str, TransitionInfo] = {}
F = TypeVar("F", bound=Callable[..., Any])


def transition(
    name: str, kind: str, sources: Iterable[str], targets: Iterable[str] = (), *,
    can: Callable[..., bool], verb: str, audit: str | None = None, event: str | None = None,
) -> Callable[[F], F]:
    """Register a transition with its predicate and its names, so that the tests can walk
    every source status and role, and the pages and the history read them from here."""

    def decorator(fn: F) -> F:
        TRANSITIONS[name] = TransitionInfo(
            name, kind, frozenset(sources), frozenset(targets), can=can,
            audit=audit or name, event=event, verb=verb, fn=fn)
        fn.transition = TRANSITIONS[name]  # type: ignore[attr-defined]
        return fn

    return decorator


def in_state(candidature: Candidature, obj: Any, sources: Iterable[str]) -> bool:
    """The state half of a predicate: the candidature is open and `obj` (a step or a
    section) is in one of the transition's source statuses."""
    return (candidature.status == CandidatureStatus.en_cours and obj is not None
            and obj.status in set(sources))


def step_of(candidature: Candidature, code: str) -> Any:
    """The candidature's step `code`, or None when its démarche has no such step."""
    return next((s for s in candidature.steps if s.step == code), None)


def allowed(name: str, actor: Actor, candidature: Candidature, *args: Any) -> bool:
    """The registered predicate of transition `name` (templates: `can(name, …)`)."""
    predicate = TRANSITIONS[name].can
    return bool(predicate and predicate(actor, candidature, *args))
