"""The wording of the automatic messages, from data/message_templates.json, into the
rows that the admin area edits (Messages automatiques)."""

from __future__ import annotations

from typing import Any

from backoffice.db import db
from backoffice.models import MessageTemplate
from backoffice.reference import merge
from backoffice.reference.files import ReferenceDataError, entries

NAME = "message_templates.json"


def load(content: dict[str, Any], report: merge.Report) -> None:
    rows = entries(content, "templates", NAME, ("event", "subject", "body"))
    events = [row["event"] for row in rows]
    if len(set(events)) != len(events):
        raise ReferenceDataError(f"{NAME} : un événement figure deux fois.")
    for row in rows:
        wanted = {"subject": row["subject"], "body": row["body"]}
        template = db.get(MessageTemplate, row["event"])
        if template is None:
            merge.create("message_template", row["event"],
                         MessageTemplate(event=row["event"], **wanted), wanted, report)
        else:
            merge.sync("message_template", row["event"], template, wanted, report,
                       f"Message automatique {row['event']}")
    db.flush()
