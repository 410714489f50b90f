"""The small reference data a bench database needs, made through the application (the
démarches and their campaign windows, the référentiels, delays, teams and accounts), and
read back as plain values for the bulk generator."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from backoffice.auth.passwords import hash_password
from backoffice.db import db
from backoffice.models import (
    AuditEvent,
    CampaignWindow,
    DelayRule,
    PieceType,
    Referentiel,
    Team,
    User,
)
from backoffice.seed import REFERENTIEL_JSON, ensure_delay_rules, ensure_demarches
from backoffice.workflow.definitions import DEMARCHES
from backoffice.workflow.referentiels import load_json
from bench import distributions as dist

BENCH_DOMAIN = "bench.convergence.fr"
LEAD_EMAIL = f"lead@{BENCH_DOMAIN}"  # the measuring vérificateur, in both teams


def verificateur_email(parcours: str, n: int) -> str:
    return f"verif.{parcours}.{n:02d}@{BENCH_DOMAIN}"


@dataclass
class Reference:
    now: float
    windows: dict[str, list[tuple[float, float, int]]]
    referentiels: dict[str, int]
    # code -> [(section code, title, [(code, title, statement, expected_json, position)])]
    sections: dict[str, list[tuple[str, str, list[tuple[str, str, str, str, int]]]]]
    profils: dict[str, dict[str, list[str]]]
    pieces: dict[tuple[str, str], list[tuple[str, bool]]]
    delays: dict[tuple[str, str], tuple[int, bool]]
    verificateurs: dict[str, list[int]]
    college: list[int]
    lead_id: int
    phase_transitoire: dict[str, bool]
    audit_last_hash: str | None
    emails: dict[int, str] = field(default_factory=dict)


def create(now: datetime) -> None:
    """Make the reference rows (in the caller's app context); the caller commits."""
    ensure_demarches()
    load_json(REFERENTIEL_JSON)
    ensure_delay_rules()
    _campaign_windows(now)
    password_hash = hash_password(secrets.token_urlsafe(24))  # nobody logs in with it
    teams = {"dmn": Team(name="Équipe DMN", parcours="dmn"),
             "segur": Team(name="Équipe Ségur", parcours="segur")}
    db.add_all(teams.values())
    lead = User(email=LEAD_EMAIL, name="Léa Responsable", password_hash=password_hash,
                teams=list(teams.values()))
    lead.roles = {"verificateur"}
    db.add(lead)
    for parcours, count in dist.VERIFICATEURS.items():
        for n in range(1, count + 1):
            user = User(email=verificateur_email(parcours, n), name=f"Vérif {parcours} {n:02d}",
                        password_hash=password_hash, teams=[teams[parcours]])
            user.roles = {"verificateur"}
            db.add(user)
    for role, count in (("college", dist.COLLEGE), ("support", dist.SUPPORT)):
        for n in range(1, count + 1):
            user = User(email=f"{role}.{n:02d}@{BENCH_DOMAIN}", name=f"{role} {n:02d}",
                        password_hash=password_hash)
            user.roles = {role}
            db.add(user)
    db.flush()


def _campaign_windows(now: datetime) -> None:
    """One window a year per démarche over the generated span (plus the open one)."""
    first_year = (now - timedelta(days=dist.SPAN_DAYS)).year
    for code, definition in DEMARCHES.items():
        for year in range(first_year, now.year):
            db.add(CampaignWindow(
                demarche_code=code, label=f"Campagne {year} — {definition.label}",
                opens_at=datetime(year, 1, 1, tzinfo=UTC),
                closes_at=datetime(year, 12, 31, 23, tzinfo=UTC)))
    db.flush()


def load(now: datetime) -> Reference:
    windows: dict[str, list[tuple[float, float, int]]] = {}
    for w in db.scalars(select(CampaignWindow).order_by(CampaignWindow.opens_at)):
        windows.setdefault(w.demarche_code, []).append(
            (w.opens_at.timestamp(), w.closes_at.timestamp(), w.id))
    referentiels, sections, profils = {}, {}, {}
    for ref in db.scalars(select(Referentiel).where(Referentiel.current.is_(True))):
        import json

        referentiels[ref.code] = ref.id
        sections[ref.code] = [
            (s.code, s.title, [(e.code, e.title, e.statement, json.dumps(e.expected_preuves),
                                e.position) for e in s.exigences])
            for s in ref.sections]
        profils[ref.code] = {p.code: list(p.sections) for p in ref.profils}
    pieces: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for p in db.scalars(select(PieceType).order_by(PieceType.position)):
        pieces.setdefault((p.parcours, p.step), []).append((p.code, p.required))
    delays = {(r.demarche_code, r.step): (r.days, r.working_days)
              for r in db.scalars(select(DelayRule))}
    users = db.scalars(select(User)).all()
    verificateurs: dict[str, list[int]] = {"dmn": [], "segur": []}
    college = []
    lead_id = 0
    for user in users:
        if user.email == LEAD_EMAIL:
            lead_id = user.id
        if "verificateur" in user.roles:
            for parcours in user.parcours:
                verificateurs[parcours].append(user.id)
        if "college" in user.roles:
            college.append(user.id)
    from backoffice.models import Demarche

    phase = {d.code: d.phase_transitoire for d in db.scalars(select(Demarche))}
    last = db.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return Reference(
        now=now.timestamp(), windows=windows, referentiels=referentiels, sections=sections,
        profils=profils, pieces=pieces, delays=delays, verificateurs=verificateurs,
        college=college, lead_id=lead_id, phase_transitoire=phase, audit_last_hash=last,
        emails={u.id: u.email for u in users})


def max_ids(tables: list[str]) -> dict[str, int]:
    from sqlalchemy import text

    out: dict[str, Any] = {}
    for table in tables:
        out[table] = db.scalar(select(func.coalesce(func.max(text("id")), 0))
                               .select_from(text(table))) if table not in (
            "message_attachment", "message_read") else 0
    return out
