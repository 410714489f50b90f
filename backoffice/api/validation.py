"""Reading request bodies: JSON objects and multipart fields, with French messages per
field (422 validation_error with details.fields)."""

from __future__ import annotations

from typing import Any

from flask import request

from backoffice.api.errors import ApiError

_MISSING = object()


def json_object() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       "Le corps de la requête doit être du JSON (Content-Type: application/json).")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "malformed_json", "Le corps de la requête n'est pas un JSON valide.")
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "Le corps de la requête doit être un objet JSON.")
    return data


class Fields:
    """Collects field errors, then raises them all at once."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}

    def text(self, name: str, *, required: bool = True, max_length: int = 200,
             default: str | None = None) -> str | None:
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.errors[name] = "Ce champ est obligatoire."
            return default
        if not isinstance(value, str):
            self.errors[name] = "Ce champ doit être une chaîne de caractères."
            return default
        value = value.strip()
        if len(value) > max_length:
            self.errors[name] = f"{max_length} caractères au plus."
        if "\x00" in value:
            self.errors[name] = "Caractère NUL interdit."
        return value

    def choice(self, name: str, choices: tuple[str, ...] | list[str]) -> str | None:
        value = self.data.get(name)
        if value not in choices:
            self.errors[name] = f"Valeur attendue : {', '.join(choices)}."
            return None
        return value

    def integer(self, name: str, *, required: bool = True, minimum: int = 0,
                maximum: int = 10**9) -> int | None:
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.errors[name] = "Ce champ est obligatoire."
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.errors[name] = f"Entier attendu entre {minimum} et {maximum}."
            return None
        return value

    def string_list(self, name: str, *, max_items: int = 50, max_length: int = 200) -> list[str]:
        value = self.data.get(name, [])
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > max_items or not all(
                isinstance(v, str) and 0 < len(v.strip()) <= max_length for v in value):
            self.errors[name] = f"Liste d'au plus {max_items} chaînes non vides attendue."
            return []
        return [v.strip() for v in value]

    def obj(self, name: str, *, required: bool = False) -> dict[str, Any]:
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.errors[name] = "Ce champ est obligatoire."
            return {}
        if not isinstance(value, dict):
            self.errors[name] = "Objet JSON attendu."
            return {}
        return value

    def done(self) -> None:
        if self.errors:
            raise ApiError(422, "validation_error", "Certains champs sont invalides.",
                           fields=self.errors)
