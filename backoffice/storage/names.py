"""Display names for uploaded files; storage keys are generated and never derive from them."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_LENGTH = 200
FALLBACK_NAME = "fichier"
_MAX_EXTENSION_LENGTH = 16  # longer "extensions" are just the end of a name with a dot in it
# Cc: controls (NUL included). Cf: format characters, among them the bidi overrides that make
# "evil\u202efdp.exe" display as "evilexe.pdf", and zero-width characters. Cs: lone surrogates,
# which cannot be encoded to UTF-8 and would break whatever stores or logs the name.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_SEPARATORS = re.compile(r"[/\\]")
_EXTENSION = re.compile(rf"\.[^.\s]{{1,{_MAX_EXTENSION_LENGTH}}}\Z")


def sanitize_filename(name: str) -> str:
    """Return a harmless display name: last path component, no controls, at most 200 chars."""
    # No HTML escaping here: that is the templates' job, and doing it twice garbles names.
    name = unicodedata.normalize("NFC", name)
    # Drop invisible characters before looking for separators, so that none can hide a "..".
    # Whitespace controls (tab, newline…) are kept one more step, to become plain spaces.
    name = "".join(
        ch for ch in name if ch.isspace() or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    # Both separators whatever the server OS: the name may come from a Windows browser.
    name = _SEPARATORS.split(name)[-1]
    name = " ".join(name.split())  # str.split() knows every Unicode space, NBSP included
    name = name.lstrip(". ").rstrip(". ")
    if len(name) > MAX_NAME_LENGTH:
        name = _truncate(name)
    return name or FALLBACK_NAME


def _truncate(name: str) -> str:
    """Shorten a name to MAX_NAME_LENGTH characters, keeping its extension."""
    match = _EXTENSION.search(name)
    extension = match.group() if match else ""
    stem = name[: MAX_NAME_LENGTH - len(extension)].rstrip(". ")
    return f"{stem}{extension}" if stem else name[:MAX_NAME_LENGTH].rstrip(". ")


# What an extension may be for each kind of content; the first is the one added when the
# name says something else. A vérificateur who downloads "facture.html" (plain text by
# content) and double-clicks it would open it in a browser, from the disk, scripts
# enabled: the name must say what the bytes are ("facture.html.txt").
EXTENSIONS = {
    "pdf": (".pdf",),
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg", ".jpe"),
    "gif": (".gif",),
    "zip": (".zip",),
    "docx": (".docx",),
    "xlsx": (".xlsx",),
    "pptx": (".pptx",),
    "odt": (".odt",),
    "ods": (".ods",),
    "odp": (".odp",),
    "ole": (".doc", ".xls", ".ppt", ".dot", ".xlt", ".pot", ".pps", ".msg"),
    "text": (".txt", ".csv", ".tsv", ".md", ".log", ".json"),
}


def with_matching_extension(name: str, kind: str) -> str:
    """The display name, with the kind's extension added when the name's does not match
    the content (never removed: the vérificateur still sees what was sent)."""
    allowed = EXTENSIONS.get(kind)
    if not allowed:
        return name
    match = _EXTENSION.search(name)
    if match and match.group().lower() in allowed:
        return name
    extension = allowed[0]
    if len(name) + len(extension) > MAX_NAME_LENGTH:
        name = name[: MAX_NAME_LENGTH - len(extension)].rstrip(". ")
    return f"{name}{extension}"
