"""Storage errors: a stable English code for the API, a French message for users."""

from __future__ import annotations

from collections.abc import Iterable

from backoffice.storage.kinds import KIND_ORDER, LABELS

_UNITS = ("Ko", "Mo", "Go", "To")


def format_size(size: int) -> str:
    """Format a byte count the French way, in binary units: 50 Mo, 1,5 Go, 900 octets."""
    if size < 1024:
        return f"{size} octet" if size in (0, 1) else f"{size} octets"
    value = size / 1024
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            break
        value /= 1024
    text = f"{value:.1f}".removesuffix(".0").replace(".", ",")
    return f"{text} {unit}"


def format_count(count: int) -> str:
    """Format an integer with French digit grouping: 5 000."""
    return f"{count:,}".replace(",", " ")


def _join_fr(items: list[str]) -> str:
    """Join words French style: « a, b et c »."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} et {items[-1]}"


class StorageError(Exception):
    """Base class: subclasses fix `code` and `http_status`; `message` is shown to users."""

    code = "storage_error"
    http_status = 500
    default_message = "Le fichier n'a pas pu être enregistré."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def as_dict(self) -> dict[str, str]:
        """The JSON body an API returns for this error."""
        return {"code": self.code, "message": self.message}


class FileTooLarge(StorageError):
    """The upload (or an archive entry) is over the size limit."""

    code = "file_too_large"
    http_status = 413

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        super().__init__(
            f"Le fichier dépasse la taille maximale autorisée ({format_size(max_size)})."
        )


class EmptyFile(StorageError):
    """The upload has no bytes at all."""

    code = "empty_file"
    http_status = 422
    default_message = "Le fichier est vide."


class UnsupportedType(StorageError):
    """The content (never the extension) is not one of the accepted kinds."""

    code = "unsupported_type"
    http_status = 415

    def __init__(self, allowed: Iterable[str], detected: str | None = None) -> None:
        # `detected` is for logs only: telling users what we think they sent helps nobody.
        self.allowed = frozenset(allowed)
        self.detected = detected
        labels = [LABELS[kind] for kind in KIND_ORDER if kind in self.allowed]
        if not labels:
            message = "Type de fichier non accepté."
        elif len(labels) == 1:
            message = f"Type de fichier non accepté : seul le format {labels[0]} est accepté."
        else:
            message = (
                f"Type de fichier non accepté : seuls les formats {_join_fr(labels)} sont acceptés."
            )
        super().__init__(message)


# Why an archive was refused: reason code -> end of the French sentence.
ARCHIVE_REASONS = {
    "corrupt": "elle est corrompue ou illisible",
    "unsupported": "elle utilise une méthode de compression non prise en charge",
    "too_many_entries": "elle contient trop de fichiers (plus de {limit})",
    "too_large": "elle est trop volumineuse une fois décompressée (plus de {limit})",
    "ratio": "elle contient un fichier au taux de compression suspect",
    "absolute_path": "elle contient un chemin absolu",
    "parent_path": "elle contient un chemin qui remonte dans l'arborescence (« .. »)",
    "control_characters": (
        "elle contient un nom de fichier avec des caractères de contrôle ou d'inversion du sens "
        "d'écriture"
    ),
    "symlink": "elle contient un lien symbolique",
    "encrypted": "elle contient un fichier chiffré ou protégé par mot de passe",
    "duplicate": "elle contient plusieurs fichiers portant le même nom",
    # zipinspect._check_local_headers: what streaming extractors read differs from the directory
    "header_mismatch": (
        "un fichier y est décrit de deux façons différentes (nom, taille ou méthode de "
        "compression)"
    ),
    "overlapping": "elle contient des données cachées ou des fichiers qui se chevauchent",
}


class UnsafeArchive(StorageError):
    """The ZIP is corrupt or could hurt whoever extracts it; `reason` says which check failed."""

    code = "unsafe_archive"
    http_status = 422

    def __init__(self, reason: str, *, entry: str | None = None, limit: str = "") -> None:
        # `entry` is the raw (attacker-chosen) name: kept for logs, never put in the message.
        self.reason = reason
        self.entry = entry
        super().__init__(f"Archive refusée : {ARCHIVE_REASONS[reason].format(limit=limit)}.")
