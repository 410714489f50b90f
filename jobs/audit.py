"""Periodic checks of the audit chain (the same as `flask verify-audit`).

- `audit.checkpoint`, every 5 minutes: verifies the rows written since the latest
  checkpoint and records the new head as a checkpoint (a file and a log line). Rows written
  after the latest checkpoint are the only ones whose deletion goes unseen: the period is
  that window. Its cost follows the new rows (10,000 events: well under a second).
- `audit.verify_chain`, nightly (weekly at 10M events and more): the whole chain and every
  checkpoint against it (a row modified in the middle without touching its hash is only
  seen by a full walk). It records a checkpoint too.

Both raise when the chain is broken (no retry: a broken chain stays broken), so the failure
is kept in RQ's failed registry and logged at ERROR.
"""

from __future__ import annotations

import logging

from backoffice.audit_checkpoints import run_verification
from jobs import job

log = logging.getLogger(__name__)


def _run(full: bool) -> dict[str, object]:
    outcome = run_verification(full=full, write=True)
    report = outcome.report
    if not report.ok:
        log.error("audit chain broken at row %s: %s", report.broken_id, report.reason)
        raise RuntimeError(f"audit chain broken at row {report.broken_id}: {report.reason}")
    if outcome.write_error:  # verified, but the head could not be recorded: say it loudly
        log.error("audit checkpoint not written: %s", outcome.write_error)
        raise RuntimeError(f"audit checkpoint not written: {outcome.write_error}")
    result: dict[str, object] = {"ok": True, "checked": report.checked}
    if outcome.written is not None:
        result["checkpoint"] = outcome.written.event_id
    return result


@job(retries=0)
def checkpoint() -> dict[str, object]:
    return _run(full=False)


@job(retries=0)
def verify_chain() -> dict[str, object]:
    return _run(full=True)
