"""Pièces justificatives per parcours and form step, from data/pieces.json. A pièce taken
out of the file is deleted only if no candidature ever filed one; otherwise it stays (its
files must keep their label), and the load says so."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select

from backoffice.db import db
from backoffice.models import Candidature, Demarche, Piece, PieceType, ReferenceSnapshot
from backoffice.reference import merge
from backoffice.reference.files import ReferenceDataError, entries
from backoffice.workflow.definitions import STEPS, Parcours, StepKind

NAME = "pieces.json"
KIND = "piece_type"


def check(content: dict[str, Any]) -> list[dict[str, Any]]:
    rows = entries(content, "pieces", NAME, ("parcours", "step", "code", "label"))
    seen = set()
    for row in rows:
        key = _key(row)
        if row["parcours"] not in {p.value for p in Parcours}:
            raise ReferenceDataError(f"{NAME} : parcours inconnu « {row['parcours']} ».")
        if row["step"] not in STEPS or STEPS[row["step"]].kind != StepKind.form:
            raise ReferenceDataError(
                f"{NAME} : « {row['step']} » n'est pas une étape de formulaire.")
        if key in seen:
            raise ReferenceDataError(f"{NAME} : la pièce {key} figure deux fois.")
        seen.add(key)
    return rows


def _key(row: dict[str, Any]) -> str:
    return f"{row['parcours']}/{row['step']}/{row['code']}"


def load(content: dict[str, Any], report: merge.Report) -> None:
    rows = check(content)
    existing = {f"{p.parcours}/{p.step}/{p.code}": p for p in db.scalars(select(PieceType))}
    positions: dict[tuple[str, str], int] = {}
    for row in rows:
        slot = (row["parcours"], row["step"])
        positions[slot] = positions.get(slot, -1) + 1
        wanted = {"label": row["label"], "required": bool(row.get("required")),
                  "position": positions[slot]}
        key = _key(row)
        if key in existing:
            merge.sync(KIND, key, existing[key], wanted, report, f"Pièce {key}")
        else:
            merge.create(KIND, key, PieceType(parcours=row["parcours"], step=row["step"],
                                              code=row["code"], **wanted), wanted, report)
    _remove_dropped({_key(row) for row in rows}, existing, report)
    db.flush()


def _remove_dropped(kept: set[str], existing: dict[str, PieceType],
                    report: merge.Report) -> None:
    """Pièces the loader made that the file no longer lists (an admin's own stay)."""
    ours = db.scalars(select(ReferenceSnapshot.key).where(ReferenceSnapshot.kind == KIND))
    for key in sorted(set(ours) - kept):
        piece = existing.get(key)
        if piece is None:
            merge.forget(KIND, key)
        elif _used(piece):
            report.notes.append(f"Pièce {key} : retirée du fichier mais déposée par des "
                                "candidatures, conservée.")
        else:
            db.delete(piece)
            merge.forget(KIND, key)
            report.removed[KIND] += 1


def _used(piece: PieceType) -> bool:
    return bool(db.scalar(select(exists().where(
        Piece.type_code == piece.code, Piece.step == piece.step,
        Piece.candidature_id == Candidature.id, Candidature.demarche_code == Demarche.code,
        Demarche.parcours == piece.parcours))))
