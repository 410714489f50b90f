"""What `init-db` last wrote of each reference row (backoffice/reference).

Reference data (démarches, delays, pièces, message templates, référentiels) comes from
data/, but admins may change some of it afterwards (a delay, a message's wording). The
loader compares three things per field: the data file, the row, and what it wrote last
time (kept here). A field still as the loader left it follows the file; a field an admin
changed stays as the admin set it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.db import Base, utcnow


class ReferenceSnapshot(Base):
    __tablename__ = "reference_snapshot"

    # "demarche", "delay_rule", "piece_type", "message_template", "referentiel"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    # the row's natural key, e.g. "dmn_pect/recevabilite"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
