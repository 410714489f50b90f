"""Evidence rows of a candidature: its sections (the référentiel's, for the profils it
chose), their exigences, the verdicts of each round and the preuves with their files."""

from __future__ import annotations

from typing import Any

from bench import distributions as dist

DAY = 86400.0
COMMENTS = ("La capture d'écran ne montre pas les traits stricts.",
            "Le rapport de test est incomplet : la moitié des cas manquent.",
            "La version testée ne correspond pas à la version candidate.")


class EvidenceRows:
    """Mixed into bench.dataset.Generator (its rng, ids, events and reference data)."""

    def _preuves(self, cid: int, code: str, profils: list[str], row: dict[str, Any],
                 vendor: str, verifs: list[int], large: str | None,
                 out: dict[str, list[tuple[Any, ...]]]) -> None:
        rng, ref, ev = self.rng, self.ref, self.events
        ref_code = "sons_sas" if code == "sons_sas" else "dmn"
        if large:
            profils[:] = sorted(ref.profils[ref_code])
        wanted = {s for p in profils for s in ref.profils[ref_code].get(p, [])}
        sections = [s for s in ref.sections[ref_code] if s[0] in wanted]
        start = row["opened"]
        end = row["decided"] or max(row["opened"] + 1, min(ref.now - 60, start + 45 * DAY))
        open_step = row["status"] == "en_cours"
        n_exigences = sum(len(s[2]) for s in sections)
        per_exigence = None
        if large:  # exactly LARGE_PREUVES files, spread over every exigence
            base, extra = divmod(dist.LARGE_PREUVES, n_exigences)
            per_exigence = [base + (i < extra) for i in range(n_exigences)]
        k = 0
        for position, (scode, title, exigences) in enumerate(sections):
            status = dist.pick(rng, dist.SECTION_STATUS_WEIGHTS) if open_step else "validee"
            if large:
                status = "en_revue" if scode == "INS" else rng.choice(("soumise", "validee"))
            rounds = 1 if large or status == "a_completer" else dist.pick(rng, dist.ROUND_WEIGHTS)
            assignee = (ref.lead_id if large else rng.choice(verifs)) \
                if status in ("en_revue", "validee", "modifications_demandees") else None
            submitted = rng.uniform(start, end) if status != "a_completer" else None
            decided = min(submitted + rng.uniform(1, 20) * DAY, ref.now - 60) \
                if status == "validee" else None
            srid = self.next_id("section_review")
            out["section_review"].append((srid, cid, scode, title, position, status, rounds,
                                          assignee, submitted, decided,
                                          decided or submitted or start))
            flagged = rng.randrange(len(exigences)) if rounds > 1 or \
                status == "modifications_demandees" else -1
            author = assignee or rng.choice(verifs)
            for e_index, (ecode, etitle, statement, expected, epos) in enumerate(exigences):
                eid = self.next_id("candidature_exigence")
                files = per_exigence[k] if per_exigence else dist.pick(rng, dist.FILES_PER_EXIGENCE)
                k += 1
                if status == "a_completer" and not large:
                    files = files if rng.random() < 0.5 else 0
                declaration = "Exigence sans objet pour ce produit (pas d'usage mobile)." \
                    if files == 0 and rng.random() < 0.4 and not large else None
                out["candidature_exigence"].append((eid, srid, ecode, etitle, statement,
                                                    expected, epos, declaration))
                when = submitted or rng.uniform(start, end)
                for n in range(files):
                    fid = self._fichier(cid, f"{ecode} - preuve {n + 1}", when, None, out)
                    pid = self.next_id("preuve")
                    out["preuve"].append((pid, cid, eid, fid, 1, None, None))
                    if large or rng.random() < dist.AUDITED_UPLOADS:
                        ev.audit(max(start, when - 60 * (n + 1)), None, vendor,
                                 "preuves.deposer", "preuve", pid, cid, None,
                                 {"section": scode, "exigence": ecode,
                                  "fichier": f"{ecode}.pdf"}, self._request_id())
                for r in range(2, rounds + 1 if e_index == flagged else 1):
                    fid = self._fichier(cid, f"{ecode} - corrigée {r}", when + r * DAY, None,
                                        out)
                    out["preuve"].append((self.next_id("preuve"), cid, eid, fid, r, None, None))
                self._verdicts(eid, e_index == flagged, status, rounds, declaration, author,
                               decided or when, out)
            if submitted is not None:
                ev.audit(submitted, None, vendor, "section.soumettre", "sectionreview", srid,
                         cid, {"status": "a_completer"}, {"status": "soumise", "section": scode},
                         self._request_id())
            if decided is not None:
                ev.audit(decided, assignee, ref.emails.get(assignee, ""), "section.valider",
                         "sectionreview", srid, cid, {"status": "en_revue"},
                         {"status": "validee", "section": scode}, self._request_id())

    def _verdicts(self, eid: int, flagged: bool, status: str, rounds: int,
                  declaration: str | None, author: int, at: float,
                  out: dict[str, list[tuple[Any, ...]]]) -> None:
        rng = self.rng
        judged = rounds if status in ("validee", "modifications_demandees") else rounds - 1
        if status == "en_revue" and rng.random() < 0.5:
            judged = rounds
        for r in range(1, judged + 1):
            if r > 1 and not flagged:
                break
            last_round = r == rounds
            if flagged and (not last_round or status == "modifications_demandees"):
                verdict, comment = "non_conforme", rng.choice(COMMENTS)
            else:
                verdict = "non_applicable" if declaration else "conforme"
                comment = None
            out["exigence_verdict"].append((self.next_id("exigence_verdict"), eid, r, verdict,
                                            comment, author, at))
