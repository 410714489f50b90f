"""The daily digest of « Activité » (issue 18, item 1): to each vérificateur who asked
for it in « Mon compte », an e-mail of what others did on their dossiers and their
teams' since the previous digest (the day before, for the first one). Nothing is sent on
a day without activity. Safe to run twice: the mark moves with the mail, in the same
transaction, so a second run finds nothing new."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from backoffice.db import db, utcnow
from backoffice.models import NotificationPreference, OutboxMail, User
from jobs import checkpoint, job

log = logging.getLogger(__name__)
MAX_EVENTS = 200  # told in one mail; beyond, the mail says how to see the rest


@job(retries=0)
def envoyer_resumes() -> int:
    """Write each digest due to the outbox; returns how many were written."""
    from backoffice.queues.candidatures import visible_demarches
    from backoffice.reviewer.activite import events_query, told

    now = utcnow()
    user_ids = db.scalars(select(NotificationPreference.user_id)
                          .where(NotificationPreference.daily_digest.is_(True))
                          .order_by(NotificationPreference.user_id)).all()
    written = 0
    for user_id in user_ids:
        preference = db.get(NotificationPreference, user_id)
        user = db.get(User, user_id)
        if preference is None or not preference.daily_digest or user is None \
                or not user.active or not user.has_role("verificateur"):
            continue
        since = preference.digest_sent_at or now - timedelta(days=1)
        rows = db.execute(events_query(user.id, visible_demarches(user), since=since,
                                       until=now).limit(MAX_EVENTS + 1)).all()
        preference.digest_sent_at = now
        if rows:
            _write(user, told(rows[:MAX_EVENTS], user.parcours), since,
                   more=len(rows) > MAX_EVENTS)
            written += 1
        checkpoint("one user's digest at a time: its mail and its mark together")
    if written:
        log.info("%d activity digest(s) written to the outbox", written)
    return written


def _write(user: User, entries: list[dict], since, *, more: bool) -> None:
    from backoffice.filters import datetime_fr
    from backoffice.tasks import schedule

    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    by_dossier: dict[str, list[dict]] = {}
    for entry in entries:
        by_dossier.setdefault(entry["reference"], []).append(entry)
    lines = [f"Bonjour {user.name},", "",
             f"Voici ce qui s'est passé sur vos dossiers depuis le {datetime_fr(since)} :", ""]
    for reference, items in by_dossier.items():
        lines.append(f"{reference} — {items[0]['product']}")
        lines += [f"  - {datetime_fr(e['event'].created_at)} : {e['who']} {e['what']}"
                  for e in reversed(items)]  # oldest first, as a story
        lines.append(f"  {base}/instruction/candidatures/{reference}")
        lines.append("")
    if more:
        lines += [f"Seuls les {MAX_EVENTS} événements les plus récents sont repris ici.", ""]
    lines += [f"Tout le détail, avec des filtres : {base}/instruction/activite", "",
              "Vous recevez ce résumé parce que vous l'avez demandé dans « Mon compte » ; "
              f"vous pouvez le désactiver à tout moment : {base}/compte#notifications", ""]
    count = len(entries)
    mail = OutboxMail(
        recipient=user.email,
        subject=f"[Convergence] Activité de vos dossiers : {count}"
                f"{'+' if more else ''} événement{'s' if count > 1 else ''}",
        body="\n".join(lines))
    db.add(mail)
    db.flush()
    schedule("notifications.envoyer", mail.id)
