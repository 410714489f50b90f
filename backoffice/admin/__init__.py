"""The administration area (Flask-Admin, its own Bootstrap theme), for role admin only."""

from __future__ import annotations

import warnings

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from backoffice.admin.base import SecureIndexView
from backoffice.admin.views import (
    ApiTokenView,
    CampaignWindowView,
    CertificatView,
    DelayRuleView,
    DemarcheView,
    MessageTemplateView,
    OrganisationView,
    PieceTypeView,
    ProfilView,
    ReferentielExigenceView,
    ReferentielView,
    TeamView,
    UserView,
)
from backoffice.db import db
from backoffice.models import (
    ApiToken,
    CampaignWindow,
    Certificat,
    DelayRule,
    Demarche,
    MessageTemplate,
    Organisation,
    PieceType,
    Profil,
    Referentiel,
    ReferentielExigence,
    Team,
    User,
)


def init_admin(app: Flask) -> None:
    # Flask-Admin 2 deprecates a bare scoped session in favour of a Flask-SQLAlchemy `db`
    # object, which we do not use (see backoffice/db.py); the session works as before and
    # pyproject pins Flask-Admin below 3.
    warnings.filterwarnings(
        "ignore", message="Passing a session object directly", category=DeprecationWarning
    )
    admin = Admin(
        app,
        name="Convergence — administration",
        url="/admin",
        index_view=SecureIndexView(name="Accueil", url="/admin"),
        theme=Bootstrap4Theme(
            swatch="default", fluid=True, base_template="admin/backoffice_master.html"
        ),
    )
    admin.add_view(UserView(User, db, name="Utilisateurs", category="Comptes"))
    admin.add_view(TeamView(Team, db, name="Équipes", category="Comptes"))
    admin.add_view(OrganisationView(Organisation, db, name="Organisations",
                                    category="Organisations"))
    admin.add_view(CertificatView(Certificat, db, name="Certificats"))
    admin.add_view(ApiTokenView(ApiToken, db, name="Jetons d'API", category="Organisations"))
    admin.add_view(DemarcheView(Demarche, db, name="Démarches", category="Démarches"))
    admin.add_view(
        CampaignWindowView(CampaignWindow, db, name="Campagnes", category="Démarches")
    )
    admin.add_view(DelayRuleView(DelayRule, db, name="Délais d'instruction", category="Démarches"))
    admin.add_view(PieceTypeView(PieceType, db, name="Pièces justificatives",
                                 category="Démarches"))
    admin.add_view(MessageTemplateView(MessageTemplate, db, name="Messages automatiques",
                                       category="Démarches"))
    admin.add_view(ReferentielView(Referentiel, db, name="Référentiels",
                                   category="Référentiels"))
    admin.add_view(ReferentielExigenceView(ReferentielExigence, db, name="Exigences",
                                           category="Référentiels"))
    admin.add_view(ProfilView(Profil, db, name="Profils", category="Référentiels"))
    from flask_admin.menu import MenuLink

    admin.add_link(MenuLink(name="Statistiques", url="/statistiques/"))
