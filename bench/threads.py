"""The message thread of a candidature: some of its transitions' automatic messages and
free messages (vendor, ANS, internal notes), written through bench.events in time order."""

from __future__ import annotations

from typing import Any

from bench import distributions as dist

FREE_MESSAGES = {
    "industriel": ("Question sur la convention", "Bonjour, pouvez-vous nous indiquer le délai "
                   "de traitement de notre dossier ? Nous avons déposé les compléments."),
    "ans": ("Précisions attendues", "Bonjour, merci de préciser la version du logiciel "
            "concernée par les preuves de la section INS."),
    "note_interne": ("", "Vu avec l'équipe : l'éditeur relance souvent, à traiter en priorité."),
}


class ThreadRows:
    """Mixed into bench.dataset.Generator (its rng, ids, events and reference data)."""

    def _messages(self, cid: int, t0: float, end: float,
                  transitions: list[tuple[float, str, str, str]], verifs: list[int],
                  large: str | None, out: dict[str, list[tuple[Any, ...]]]) -> None:
        """The thread: some of the transitions' automatic messages, and free messages."""
        rng, ev = self.rng, self.events
        if large:
            count = dist.LARGE_MESSAGES
        else:
            count = dist.poisson(rng, dist.MESSAGES_BASE * min(2.5, 0.5 + len(
                transitions) / 4))
        if count == 0:
            return
        reader = self.ref.lead_id if large else rng.choice(verifs)
        read_at = count - 1 - (50 if large else rng.randrange(0, 3))
        timeline = sorted(rng.uniform(t0, end) for _ in range(count))
        for n, ts in enumerate(timeline):
            kind = dist.pick(rng, dist.MESSAGE_KIND_WEIGHTS)
            read_by = (reader,) if n == read_at else ()
            if kind == "automatique":
                _, event, subject, body = transitions[min(n, len(transitions) - 1)]
                ev.message(ts, cid, "systeme", None, "automatique", event, subject, body,
                           False, read_by=read_by)
                continue
            subject, body = FREE_MESSAGES[kind]
            author = None if kind == "industriel" else rng.choice(verifs)
            files: tuple[int, ...] = ()
            if kind != "note_interne" and rng.random() < dist.ATTACHMENT_PROBABILITY:
                files = (self._fichier(cid, "piece_jointe", ts, author, out),)
            ev.message(ts, cid, kind if kind == "industriel" else "ans", author,
                       "note_interne" if kind == "note_interne" else "message", None, subject,
                       body, kind == "ans" and rng.random() < 0.5, files, read_by)
            if kind != "industriel":
                verb = "note_interne" if kind == "note_interne" else "message_ans"
                ev.audit(ts, author, self.ref.emails.get(author, ""), f"messagerie.{verb}",
                         "message", cid, cid, None, {"subject": subject}, self._request_id())
