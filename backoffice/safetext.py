"""What text we accept, wherever it comes from, and how text we already hold is shown.

One set of rules for the intake API's JSON (api/validation.py), the back-office's forms
(webforms.py) and every query string or form field (`init_app`'s guard):

- no lone UTF-16 surrogate ("\\ud800"): it cannot be encoded in UTF-8, so a page that shows
  it fails to render, and PostgreSQL refuses it in a text column;
- no control character — NUL first of all, which PostgreSQL refuses in any text — except
  tab, line feed and carriage return in texts that may span several lines;
- in single-line texts (names, labels, subjects), no line break, tab, or bidi embedding /
  override / isolate either: such a name would rewrite how a list or a CSV reads;
- accepted text is stored NFC-normalised, so that « é » typed two ways is one string.

Rows stored before these rules may still hold a lone surrogate (in JSON columns, where the
database keeps it escaped): `finalize` shows it as U+FFFD instead of failing the page.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flask import Flask, render_template, request

SURROGATES = re.compile("[\ud800-\udfff]")
# C0 controls but tab, LF and CR; DEL; C1 controls.
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What a single-line text may not contain on top of the above: line breaks, tab, and the
# bidi controls that reorder what follows them (embeddings, overrides, isolates).
SINGLE_LINE = re.compile("[\t\n\r\u202a-\u202e\u2066-\u2069]")
# Everything refused anywhere: one search in the common case of clean text.
_ANY_PROBLEM = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SEARCH_DROPPED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")

SURROGATE_MESSAGE = "Caractère invalide : ce texte n'est pas de l'Unicode valide."
NUL_MESSAGE = "Caractère NUL interdit."
CONTROL_MESSAGE = "Caractère de contrôle interdit."
SINGLE_LINE_MESSAGE = ("Ce champ tient sur une ligne : retours à la ligne, tabulations et "
                       "caractères d'inversion du sens d'écriture interdits.")


def problem(value: str, *, multiline: bool = True) -> str | None:
    """The French reason why `value` cannot be accepted, or None if it can."""
    if _ANY_PROBLEM.search(value):
        if SURROGATES.search(value):
            return SURROGATE_MESSAGE
        return NUL_MESSAGE if "\x00" in value else CONTROL_MESSAGE
    if not multiline and SINGLE_LINE.search(value):
        return SINGLE_LINE_MESSAGE
    return None


def searchable(value: str) -> str:
    """A search term typed in a box: refused characters and line breaks removed (a NUL in a
    LIKE pattern is a PostgreSQL error), NFC like the text it is compared with."""
    return normalise(_SEARCH_DROPPED.sub("", value))


def normalise(value: str) -> str:
    """NFC, the form every accepted text is stored in."""
    return unicodedata.normalize("NFC", value)


def without_surrogates(value: str) -> str:
    """A string that can be encoded: each lone surrogate becomes U+FFFD."""
    return SURROGATES.sub("\ufffd", value)


def visible(value: str) -> str:
    """`value` with each refused character written as an escape (\\u0000): for naming a
    field in an error message without carrying the character itself."""
    return _ANY_PROBLEM.sub(lambda m: f"\\u{ord(m.group()):04x}", value)


def finalize(value: Any) -> Any:
    """Jinja's last step before output: stored text with a lone surrogate would make the
    whole page fail to encode; it is shown with U+FFFD instead (Markup stays Markup)."""
    if isinstance(value, str) and SURROGATES.search(value):
        # str.replace, not a regex: on Markup it returns Markup (nothing escaped twice)
        for surrogate in set(SURROGATES.findall(value)):
            value = value.replace(surrogate, "\ufffd")
    return value


# --- the guard on every request's query string, path and form fields ----------------------


def _first_problem(pairs: Any) -> tuple[str, str] | None:
    """(field name, reason) of the first unacceptable key or value of a MultiDict/dict."""
    items = pairs.items(multi=True) if hasattr(pairs, "getlist") else pairs.items()
    for key, value in items:
        for text in (key, value):
            if isinstance(text, str) and _ANY_PROBLEM.search(text):
                name = visible(str(key))[:100]
                return name, problem(text) or CONTROL_MESSAGE
    return None


def check_request() -> Any:
    """Refuse a request whose path, query string or (back-office) form fields hold a
    character no page and no database column can take — a NUL in `?q=` used to end in a
    PostgreSQL error. The API's JSON body and multipart fields are checked by the API itself
    (api/validation.py), after its token: parsing an upload here would store it for anyone.
    A request no route matched is left to its 404 or 405: nothing will read it."""
    if request.endpoint is None:
        return None
    api = request.blueprint == "api"
    found = _first_problem(request.view_args or {})
    if found is not None:
        return _refuse(404, api, found)
    found = _first_problem(request.args)
    if found is None and not api and request.method not in ("GET", "HEAD", "OPTIONS"):
        found = _first_problem(request.form)
    if found is not None:
        return _refuse(422 if api else 400, api, found)
    return None


def _refuse(status: int, api: bool, found: tuple[str, str]) -> Any:
    name, reason = found
    if api:
        from backoffice.api.errors import error_response

        if status == 404:
            return error_response(404, "not_found", "Ressource introuvable.")
        return error_response(422, "invalid_characters",
                              "Certains champs contiennent des caractères non autorisés.",
                              fields={name: reason})
    if status == 404:
        return render_template("errors/error.html", code=404, title="Page non trouvée",
                               message="La page que vous cherchez est introuvable."), 404
    return render_template(
        "errors/error.html", code=400, title="Saisie refusée",
        message=f"Le champ « {name} » contient un caractère non autorisé. {reason} "
                "Retirez-le et recommencez."), 400


def init_app(app: Flask) -> None:
    app.jinja_env.finalize = finalize
    app.before_request(check_request)
