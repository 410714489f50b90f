"""Messages and audit events, written in time order.

A candidature's events spread over months, and the application appends them as they
happen: ids grow with time and one dossier's rows are scattered over the table, not
stored side by side. The generator builds candidatures in creation order and pushes their
events into a heap; `drain(frontier)` writes every event older than the next candidature's
creation (no later candidature can produce an earlier event), so ids follow time as in
production. Audit rows are hash-chained exactly as backoffice.audit.record chains them."""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from backoffice.audit import GENESIS, compute_hash

AUDIT = 0
MESSAGE = 1


class EventStream:
    def __init__(self, next_id: Callable[[str], int], last_hash: str | None = None) -> None:
        self._heap: list[tuple[float, int, int, tuple[Any, ...]]] = []
        self._seq = 0
        self._next_id = next_id
        self.prev_hash = last_hash or GENESIS
        self.counts = {"audit_event": 0, "message": 0}

    def __len__(self) -> int:
        return len(self._heap)

    def audit(self, ts: float, actor_id: int | None, actor_label: str, action: str,
              target_type: str, target_id: int | str, candidature_id: int | None,
              before: dict[str, Any] | None, after: dict[str, Any] | None,
              request_id: str | None) -> None:
        self._push(ts, AUDIT, (actor_id, actor_label, action, target_type, str(target_id),
                               candidature_id, before, after, request_id))

    def message(self, ts: float, candidature_id: int, author_kind: str, author_id: int | None,
                kind: str, event: str | None, subject: str, body: str,
                reponse_attendue: bool, attachments: tuple[int, ...] = (),
                read_by: tuple[int, ...] = ()) -> None:
        self._push(ts, MESSAGE, (candidature_id, author_kind, author_id, kind, event, subject,
                                 body, reponse_attendue, attachments, read_by))

    def _push(self, ts: float, kind: int, payload: tuple[Any, ...]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (ts, self._seq, kind, payload))

    def drain(self, frontier: float, out: dict[str, list[tuple[Any, ...]]]) -> None:
        """Write every event older than `frontier` into the row buffers `out`."""
        heap = self._heap
        while heap and heap[0][0] < frontier:
            ts, _, kind, payload = heapq.heappop(heap)
            if kind == AUDIT:
                out["audit_event"].append(self._audit_row(ts, payload))
            else:
                self._message_rows(ts, payload, out)

    def _audit_row(self, ts: float, p: tuple[Any, ...]) -> tuple[Any, ...]:
        actor_id, actor_label, action, target_type, target_id, cid, before, after, rid = p
        event = SimpleNamespace(
            created_at=datetime.fromtimestamp(ts, UTC), actor_id=actor_id,
            actor_label=actor_label, action=action, target_type=target_type,
            target_id=target_id, candidature_id=cid, before=before, after=after,
            request_id=rid, prev_hash=self.prev_hash)
        digest = compute_hash(event)  # the application's own function: same bytes hashed
        row = (self._next_id("audit_event"), ts, actor_id, actor_label, action, target_type,
               target_id, cid, json.dumps(before), json.dumps(after), rid, self.prev_hash,
               digest)
        self.prev_hash = digest
        self.counts["audit_event"] += 1
        return row

    def _message_rows(self, ts: float, p: tuple[Any, ...],
                      out: dict[str, list[tuple[Any, ...]]]) -> None:
        cid, author_kind, author_id, kind, event, subject, body, reponse, files, read_by = p
        mid = self._next_id("message")
        out["message"].append((mid, cid, author_kind, author_id, kind, event, subject, body,
                               ts, ts if kind != "note_interne" else None, reponse))
        for fichier_id in files:
            out["message_attachment"].append((mid, fichier_id))
        for user_id in read_by:
            out["message_read"].append((user_id, cid, mid))
        self.counts["message"] += 1
