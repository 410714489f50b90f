"""What a member of the collège may read (issue 15, finding 7): a DMN dossier and its
files only while it is on the agenda of a séance they sit in — and afterwards, read-only,
for the séances they sat in (an adjourned dossier stays readable to the members of the
séance that adjourned it). Never the attachments of the vérificateurs' internal notes.
Administrators keep access to every DMN dossier (they prepare séances and manage them).

One predicate for the views and the templates: a link is shown exactly when following it
would be allowed."""

from __future__ import annotations

from sqlalchemy import exists, select

from backoffice.db import db
from backoffice.models import AgendaItem, Candidature, Fichier, Message, Seance, User
from backoffice.models.college import seance_members
from backoffice.models.messaging import message_attachment


def sits_on(user: User, candidature_id: int) -> bool:
    """The user is a member of a séance whose agenda holds (or held) the candidature."""
    return bool(db.scalar(select(exists().where(
        AgendaItem.candidature_id == candidature_id,
        seance_members.c.seance_id == AgendaItem.seance_id,
        seance_members.c.user_id == user.id))))


def can_read_dossier(user: User, candidature: Candidature) -> bool:
    if not user.active or not candidature.demarche_code.startswith("dmn_"):
        return False
    if user.has_role("admin"):
        return True
    return user.has_role("college") and sits_on(user, candidature.id)


def reads_agenda(user: User, seance: Seance) -> bool:
    """Whether the user may open the dossiers of this séance's agenda (for its page's
    links: a member of the séance, or an administrator; no query per item)."""
    return user.active and (user.has_role("admin") or (
        user.has_role("college") and any(m.id == user.id for m in seance.members)))


def internal_only(fichier: Fichier) -> bool:
    """Attached to a vérificateur's internal note: never shown to the collège."""
    return bool(db.scalar(select(exists().where(
        message_attachment.c.fichier_id == fichier.id,
        message_attachment.c.message_id == Message.id,
        Message.kind == "note_interne"))))


def can_read_file(user: User, fichier: Fichier) -> bool:
    candidature = db.get(Candidature, fichier.candidature_id)
    return (candidature is not None and can_read_dossier(user, candidature)
            and not internal_only(fichier))
