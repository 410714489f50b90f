"""Campaign windows: the portal's deadlines ("Fermeture du dépôt de candidature :
14 décembre 2023 14:00 (Heure de Paris)")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from backoffice.db import db
from backoffice.filters import datetime_fr
from backoffice.models import CampaignWindow, Candidature, Demarche
from backoffice.workflow.base import TransitionError


class WindowClosed(TransitionError):
    http_status = 409


def current_window(demarche: Demarche, at: datetime) -> CampaignWindow | None:
    return db.scalar(
        select(CampaignWindow)
        .where(CampaignWindow.demarche_code == demarche.code,
               CampaignWindow.opens_at <= at, CampaignWindow.closes_at > at)
        .order_by(CampaignWindow.closes_at)
        .limit(1)
    )


def ensure_window_open_for(demarche: Demarche, at: datetime) -> CampaignWindow:
    if not demarche.active:
        raise WindowClosed("demarche_closed",
                           f"La démarche « {demarche.label} » n'accepte pas de candidature.")
    window = current_window(demarche, at)
    if window is not None:
        return window
    last = db.scalar(
        select(CampaignWindow).where(CampaignWindow.demarche_code == demarche.code,
                                     CampaignWindow.closes_at <= at)
        .order_by(CampaignWindow.closes_at.desc()).limit(1)
    )
    upcoming = db.scalar(
        select(CampaignWindow).where(CampaignWindow.demarche_code == demarche.code,
                                     CampaignWindow.opens_at > at)
        .order_by(CampaignWindow.opens_at).limit(1)
    )
    message = "Aucune campagne de dépôt n'est ouverte pour cette démarche."
    if last is not None:
        message = (f"Le dépôt de candidature est fermé depuis le {datetime_fr(last.closes_at)} "
                   "(heure de Paris).")
    if upcoming is not None:
        message += (f" Prochaine ouverture : {datetime_fr(upcoming.opens_at)} "
                    "(heure de Paris).")
    raise WindowClosed("campaign_closed", message)


def ensure_window_open(candidature: Candidature, at: datetime) -> None:
    ensure_window_open_for(candidature.demarche, at)
