"""Reading request bodies: JSON objects and multipart fields, with French messages per
field (422 validation_error with details.fields).

Every JSON body goes through `parse_json` once per request, before any view reads it:

- its size and nesting depth are capped before the parser sees it (the nesting is measured
  on the raw bytes: 5,000 nested brackets used to exhaust the parser's recursion: a 500);
- numbers must be finite (`NaN`, `Infinity`, `1e999` refused) and integers short;
- every string, object keys included, passes the rules of backoffice/safetext.py (no lone
  surrogate, no control character but tab and line breaks) and is NFC-normalised.

A refusal answers 4xx JSON with a stable code and, for a bad value, the path of the field
(`contact.nom`, `certifications[2]`) in details.fields. `StrictJSONProvider` makes any
other `request.get_json()` in the application (the idempotency fingerprint, for instance)
refuse the same bodies instead of failing on them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import g, request
from flask.json.provider import DefaultJSONProvider

from backoffice import safetext
from backoffice.api import bp
from backoffice.api.errors import ApiError

_MISSING = object()

MAX_JSON_BYTES = 1024 * 1024  # the same as any form body (uploads.FORM_BODY_LIMIT)
MAX_DEPTH = 32  # our deepest payload (a form's blocks) is 3 levels deep
MAX_INT_DIGITS = 18  # fits a 64-bit integer; the fields then check their own ranges



def json_too_large() -> ApiError:
    return ApiError(413, "json_too_large", "Le corps JSON dépasse 1 Mo.")


def json_too_deep() -> ApiError:
    return ApiError(422, "json_too_deep", f"Le JSON est imbriqué sur plus de {MAX_DEPTH} niveaux.")


def malformed(message: str = "Le corps de la requête n'est pas un JSON valide.") -> ApiError:
    return ApiError(400, "malformed_json", message)


INVALID_CHARACTERS = "invalid_characters"
INVALID_NUMBER = "invalid_number"
_MESSAGES = {
    INVALID_CHARACTERS: "Certains champs contiennent des caractères non autorisés.",
    INVALID_NUMBER: "Certains champs contiennent un nombre non accepté.",
}

# --- nesting depth, measured on the raw bytes ------------------------------------------

_OPENERS_CLOSERS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the brackets of a JSON text nest deeper than `limit`, without parsing it.

    Strings removed (their brackets are text): escaped backslashes, then escaped quotes, then
    every other piece between quotes — bytes methods only, no regex, so that no input can
    make it backtrack. Only brackets kept ({} read as []); each pass removes every innermost
    pair at C speed (bytes.replace does not rescan what it produced), so `limit` passes
    empty any text nested at most `limit` deep. Unbalanced brackets are left for the parser
    to call malformed."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    brackets = outside_strings.translate(_OPENERS_CLOSERS, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        reduced = brackets.replace(b"[]", b"")
        if reduced == brackets:  # no pair left to remove: unbalanced, not deep
            return False
        brackets = reduced
    return b"[]" in brackets  # a pair is still there after `limit` levels were removed


# --- numbers: finite and short, or marked for the walk to report -----------------------


class _Refused:
    """Put in the parsed document in place of a number we refuse, so that the walk can say
    which field held it."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _parse_constant(name: str) -> _Refused:
    return _Refused(f"{name} n'est pas un nombre accepté.")


def _parse_float(text: str) -> float | _Refused:
    value = float(text)
    if not math.isfinite(value):
        return _Refused("Nombre hors limites (infini).")
    return value


def _parse_int(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return _Refused(f"Nombre entier de plus de {MAX_INT_DIGITS} chiffres.")
    return int(text)


# --- strings: the walk ------------------------------------------------------------------


def _path(parent: str, key: str) -> str:
    key = safetext.visible(key)
    return f"{parent}.{key}" if parent else key


def _clean(value: Any, path: str, errors: dict[str, tuple[str, str]]) -> Any:
    """`value` with every string NFC-normalised; problems recorded in `errors` by path."""
    if isinstance(value, str):
        reason = safetext.problem(value)
        if reason is not None:
            errors.setdefault(path or "(corps)", (INVALID_CHARACTERS, reason))
            return value
        return safetext.normalise(value)
    if isinstance(value, dict):
        cleaned = {}
        for key, item in value.items():
            here = _path(path, key)
            reason = safetext.problem(key)
            if reason is not None:
                errors.setdefault(here, (INVALID_CHARACTERS, f"Nom de champ invalide : {reason}"))
                continue
            cleaned[safetext.normalise(key)] = _clean(item, here, errors)
        return cleaned
    if isinstance(value, list):
        return [_clean(item, f"{path}[{i}]", errors) for i, item in enumerate(value)]
    if isinstance(value, _Refused):
        errors.setdefault(path or "(corps)", (INVALID_NUMBER, value.message))
        return None
    return value


def parse_json(raw: bytes) -> Any:
    """The document in `raw`, checked and normalised; ApiError otherwise."""
    if len(raw) > MAX_JSON_BYTES:
        raise json_too_large()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise malformed("Le corps de la requête n'est pas encodé en UTF-8.") from exc
    if too_deep(raw):
        raise json_too_deep()
    try:
        document = json.loads(text, parse_constant=_parse_constant, parse_float=_parse_float,
                              parse_int=_parse_int)
    except RecursionError as exc:  # cannot happen under the depth cap; never a 500 anyway
        raise json_too_deep() from exc
    except ValueError as exc:
        raise malformed() from exc
    errors: dict[str, tuple[str, str]] = {}
    document = _clean(document, "", errors)
    if errors:
        codes = {code for code, _ in errors.values()}
        code = INVALID_CHARACTERS if INVALID_CHARACTERS in codes else INVALID_NUMBER
        raise ApiError(422, code, _MESSAGES[code],
                       fields={path: reason for path, (_, reason) in errors.items()})
    return document


def json_body() -> Any:
    """The request's JSON document, read and checked once per request."""
    if "api_json" not in g:
        if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
            raise json_too_large()  # refused before a byte of it is read
        g.api_json = parse_json(request.get_data(cache=True))
    return g.api_json


def json_object() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       "Le corps de la requête doit être du JSON (Content-Type: application/json).")
    data = json_body()
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "Le corps de la requête doit être un objet JSON.")
    return data


class StrictJSONProvider(DefaultJSONProvider):
    """`request.get_json()` anywhere: the same depth cap and finite numbers, so that a hostile
    body is a ValueError (400, or None with silent=True), never a RecursionError."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        raw = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s
        if too_deep(raw):
            raise ValueError("JSON nested too deep")
        kwargs.setdefault("parse_constant", _refuse_number)
        kwargs.setdefault("parse_float", _finite_float)
        try:
            return json.loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deep") from exc


def _refuse_number(name: str) -> float:
    raise ValueError(f"{name} is not accepted")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("non-finite number")
    return value


@bp.before_request
def _refuse_oversized_json() -> None:
    """An announced JSON body over the cap: refused before anything reads it (the
    idempotency fingerprint reads bodies before the view does)."""
    if request.is_json and (request.content_length or 0) > MAX_JSON_BYTES:
        raise json_too_large()


@bp.record_once
def _install_provider(state: Any) -> None:
    """The API blueprint brings its JSON parsing rules to the application it joins."""
    provider = StrictJSONProvider(state.app)
    for name in ("ensure_ascii", "sort_keys", "compact", "mimetype"):  # keep any settings
        setattr(provider, name, getattr(state.app.json, name))
    state.app.json = provider


# --- fields -------------------------------------------------------------------------------


class Fields:
    """Collects field errors, then raises them all at once."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}

    def text(self, name: str, *, required: bool = True, max_length: int = 200,
             default: str | None = None, multiline: bool = False) -> str | None:
        """A string (multipart fields included: the same rules as JSON's); single-line
        unless `multiline`."""
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.errors[name] = "Ce champ est obligatoire."
            return default
        if not isinstance(value, str):
            self.errors[name] = "Ce champ doit être une chaîne de caractères."
            return default
        value = safetext.normalise(value.strip())
        if len(value) > max_length:
            self.errors[name] = f"{max_length} caractères au plus."
        reason = safetext.problem(value, multiline=multiline)
        if reason is not None:
            self.errors[name] = reason
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
        for i, item in enumerate(value):
            reason = safetext.problem(item, multiline=False)
            if reason is not None:
                self.errors[f"{name}[{i}]"] = reason
                return []
        return [safetext.normalise(v.strip()) for v in value]

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


def form_text(name: str, *, multiline: bool = False) -> str | None:
    """A multipart field of the API (stripped, NFC), refused like a JSON string would be;
    None when absent."""
    value = request.form.get(name)
    if value is None:
        return None
    reason = safetext.problem(value, multiline=multiline)
    if reason is not None:
        raise ApiError(422, INVALID_CHARACTERS, _MESSAGES[INVALID_CHARACTERS],
                       fields={name: reason})
    return safetext.normalise(value.strip())
