"""SQLAlchemy models, one module per aggregate. Importing this package registers them
all on Base.metadata (Alembic and the tests rely on that)."""

from backoffice.models.audit import AuditEvent
from backoffice.models.candidature import Candidature, CandidatureStep
from backoffice.models.demarche import CampaignWindow, Demarche
from backoffice.models.organisation import ApiToken, Organisation, Product
from backoffice.models.user import Role, Team, User, UserRole

__all__ = [
    "ApiToken",
    "AuditEvent",
    "CampaignWindow",
    "Candidature",
    "CandidatureStep",
    "Demarche",
    "Organisation",
    "Product",
    "Role",
    "Team",
    "User",
    "UserRole",
]
