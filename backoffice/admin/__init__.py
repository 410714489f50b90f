"""The administration area (Flask-Admin, its own Bootstrap theme), for role admin only."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from backoffice.admin.base import SecureIndexView
from backoffice.admin.views import (
    CampaignWindowView,
    DemarcheView,
    OrganisationView,
    TeamView,
    UserView,
)
from backoffice.db import db
from backoffice.models import CampaignWindow, Demarche, Organisation, Team, User


class _Database:
    """What Flask-Admin expects of a "db" object: its `session` (our scoped session)."""

    session = db


def init_admin(app: Flask) -> None:
    admin = Admin(
        app,
        name="Convergence — administration",
        url="/admin",
        index_view=SecureIndexView(name="Accueil", url="/admin"),
        theme=Bootstrap4Theme(swatch="default", fluid=True),
    )
    admin.add_view(UserView(User, _Database, name="Utilisateurs", category="Comptes"))
    admin.add_view(TeamView(Team, _Database, name="Équipes", category="Comptes"))
    admin.add_view(OrganisationView(Organisation, _Database, name="Organisations"))
    admin.add_view(DemarcheView(Demarche, _Database, name="Démarches", category="Démarches"))
    admin.add_view(
        CampaignWindowView(CampaignWindow, _Database, name="Campagnes", category="Démarches")
    )
