"""SQLAlchemy models, one module per aggregate. Importing this package registers them
all on Base.metadata (Alembic and the tests rely on that)."""

from backoffice.models.audit import AuditEvent
from backoffice.models.candidature import Candidature, CandidatureStep
from backoffice.models.certificat import Certificat
from backoffice.models.college import AgendaItem, Conflict, Seance, Vote
from backoffice.models.demarche import CampaignWindow, Demarche
from backoffice.models.dossier import Convention, IdempotencyKey, StepForm, WebhookEvent
from backoffice.models.exports import Export
from backoffice.models.files import Avis, Fichier, Piece, Preuve, ZipPourAvis
from backoffice.models.follow import DossierFollow, DossierHolding
from backoffice.models.instruction import CandidatureExigence, ExigenceVerdict, SectionReview
from backoffice.models.jobs import JobOutbox
from backoffice.models.messaging import Message, MessageRead, MessageTemplate, OutboxMail
from backoffice.models.organisation import ApiToken, Organisation, Product, ProductEvaluation
from backoffice.models.queue_count import QueueCount
from backoffice.models.reference import ReferenceSnapshot
from backoffice.models.referentiel import (
    DelayRule,
    PieceType,
    Profil,
    Referentiel,
    ReferentielExigence,
    ReferentielSection,
)
from backoffice.models.saved_views import SavedView
from backoffice.models.seen import DossierSeen, NotificationPreference
from backoffice.models.statistics import StatCurrent, StatWeekly
from backoffice.models.user import RecoveryCode, Role, Team, User, UserRole

__all__ = [
    "AgendaItem",
    "Conflict",
    "Seance",
    "Vote",
    "Avis",
    "CandidatureExigence",
    "Certificat",
    "Convention",
    "DelayRule",
    "DossierFollow",
    "DossierHolding",
    "DossierSeen",
    "ExigenceVerdict",
    "Export",
    "Fichier",
    "IdempotencyKey",
    "JobOutbox",
    "Message",
    "MessageRead",
    "MessageTemplate",
    "NotificationPreference",
    "OutboxMail",
    "QueueCount",
    "RecoveryCode",
    "ReferenceSnapshot",
    "SavedView",
    "Piece",
    "PieceType",
    "Preuve",
    "ProductEvaluation",
    "Profil",
    "Referentiel",
    "ReferentielExigence",
    "ReferentielSection",
    "SectionReview",
    "StatCurrent",
    "StatWeekly",
    "StepForm",
    "WebhookEvent",
    "ZipPourAvis",
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
