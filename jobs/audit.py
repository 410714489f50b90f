"""Periodic check of the audit chain (also `flask verify-audit`)."""

from __future__ import annotations

import logging

from backoffice.audit import verify_chain as _verify
from jobs import job

log = logging.getLogger(__name__)


@job(retries=0)  # a broken chain stays broken: report it at once
def verify_chain() -> dict[str, object]:
    report = _verify()
    if not report.ok:
        log.error("audit chain broken at row %s: %s", report.broken_id, report.reason)
        raise RuntimeError(f"audit chain broken at row {report.broken_id}: {report.reason}")
    return {"ok": True, "checked": report.checked}
