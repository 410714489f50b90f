"""The domain's errors, shared by the models and the workflow (models cannot import the
workflow): a refusal has a stable `code` (API) and a French `message` (users)."""

from __future__ import annotations


class TransitionError(Exception):
    """A refused transition: `code` is stable (API), `message` French (users)."""

    http_status = 409

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if http_status is not None:
            self.http_status = http_status


class NotAllowed(TransitionError):
    http_status = 403


class InvalidInput(TransitionError):
    http_status = 422


class UnknownStep(TransitionError):
    """A candidature asked for a step its démarche does not have (a ligne générique
    action on a nom de marque dossier, a stale link)."""

    def __init__(self, reference: str, code: str) -> None:
        super().__init__("unknown_step",
                         f"La candidature {reference} ne comporte pas l'étape demandée "
                         "pour cette action.")
        self.step_code = code
