"""Rows of a bench database, candidature by candidature (docs/benchmarks.md, "Data").

Each candidature is given an age, a démarche, an outcome or the step where it waits, then
the rows the application would have written on the way there: its steps with consistent
dates, deciders and due dates, forms and pièces, convention, sections with their
exigences, verdicts and preuves, and (through bench.events) its messages and audit trail.
Values are plain tuples in the column order of COLUMNS; times are epoch seconds (the sink
converts them), JSON values are already serialised."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from itertools import takewhile
from typing import Any

from backoffice.models.candidature import SECTIONS_WAITING_ON_ANS, search_text, turn_of
from backoffice.workflow.definitions import DEMARCHES, STEPS, StepKind
from bench import distributions as dist
from bench.columns import COLUMNS, FAR_FUTURE, TABLES  # noqa: F401 - re-exported
from bench.events import EventStream
from bench.evidence import EvidenceRows
from bench.reference import Reference
from bench.threads import ThreadRows

DAY = 86400.0

PASSED = {StepKind.form: "validee", StepKind.convention: "validee",
          StepKind.preuves: "validee", StepKind.preuves_pour_avis: "avis_rendu",
          StepKind.college: "favorable", StepKind.emission: "emis"}
SUCCESS = {"dmn_ligne_generique": "avis_rendu", "sons_sas": "referencee"}
HELD = {"en_instruction", "complements_demandes", "inscrite"}
NO_SUBMISSION = {"brouillon", "a_envoyer", "en_attente_depot"}
DECIDED = {"validee", "rejetee", "favorable", "defavorable", "avis_rendu"}

# Names in the guide's style ("Careoptim", "MédiSuivi"): searched by the benchmarks.
PREFIXES = ("Care", "Médi", "Edi", "Santé", "Télé", "Ortho", "Doc", "Pharma", "Onco",
            "Cardio", "Neuro", "Kiné", "Dent", "Vision", "Bio", "Clini", "Hospi", "Soin",
            "Vita", "Axi", "Pédia", "Psy", "Radio", "Derma", "Gyné")
SUFFIXES = ("optim", "connect", "core", "suivi", "plus", "track", "soft", "lab", "link",
            "net", "data", "med", "tech", "sys", "logic", "cloud", "pro", "ware", "flow", "hub")
FORMS = ("SAS", "SA", "SARL", "SASU", "Groupe")
CITIES = ("Paris", "Lyon", "Nantes", "Lille", "Rennes", "Bordeaux", "Toulouse", "Nice")
FORM_DATA = {
    "responsable_legal": {"nom": "Martin", "prenom": "Jeanne", "fonction": "Présidente"},
    "contact": {"nom": "Durand", "prenom": "Paul", "email": "contact@editeur.example.fr",
                "telephone": "0102030405"},
    "composants": [], "consentement_email": True,
}
LARGE_REFERENCES = tuple(f"GROSDOS{a}{b}" for a in "AB" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_REFERENCE_SPACE = 26**9
_REFERENCE_MULTIPLIER = 1_779_033_703  # odd, not a multiple of 13: a bijection mod 26^9


def reference_for(candidature_id: int) -> str:
    """Nine distinct random-looking letters per id (no collision, no set to keep)."""
    n = (candidature_id * _REFERENCE_MULTIPLIER + 5_432_101) % _REFERENCE_SPACE
    letters = []
    for _ in range(9):
        n, r = divmod(n, 26)
        letters.append(_ALPHABET[r])
    reference = "".join(letters)
    return reference if reference not in LARGE_REFERENCES else reference[::-1]


class Generator(EvidenceRows, ThreadRows):
    def __init__(self, ref: Reference, start_ids: dict[str, int], candidatures: int,
                 seed: int = 8, large: int | None = None, pending: int | None = None) -> None:
        self.ref = ref
        self.rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
        self.ids = dict(start_ids)
        self.n = candidatures
        self.events = EventStream(self.next_id, ref.audit_last_hash)
        self.counts: dict[str, int] = defaultdict(int)
        self.products: list[tuple[int, int, str]] = []  # (id, organisation id, label)
        self.product_names: dict[int, str] = {}
        self.org_names: dict[int, str] = {}
        n_large = large if large is not None else (3 if candidatures >= 1000 else 1)
        n_large = min(n_large, len(LARGE_REFERENCES), max(candidatures // 10, 1))
        n_pending = pending if pending is not None else max(
            dist.PENDING_ISSUANCE_MIN, int(candidatures * dist.PENDING_ISSUANCE_SHARE))
        n_pending = min(n_pending, max(candidatures // 5, 1))
        # Recent candidatures (last 5 %) host the large dossiers and pending issuances.
        recent = range(int(candidatures * 0.95), candidatures)
        chosen = self.rng.sample(recent, min(len(recent), n_large + n_pending))
        self.large = dict(zip(chosen[:n_large], LARGE_REFERENCES, strict=False))
        self.pending = set(chosen[n_large:])

    def next_id(self, table: str) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]

    # --- times ------------------------------------------------------------------------

    def created_at(self, index: int) -> float:
        """Increasing with index; intake density grows linearly towards now."""
        u = (index + self.rng.random()) / self.n
        return self.ref.now - dist.SPAN_DAYS * DAY * (1 - math.sqrt(u)) - 3600

    # --- organisations and products -------------------------------------------------

    def organisations_and_products(self) -> dict[str, list[tuple[Any, ...]]]:
        rng, out = self.rng, defaultdict(list)
        n_orgs = max(3, self.n // dist.CANDIDATURES_PER_ORGANISATION)
        n_products = max(n_orgs, int(self.n / dist.CANDIDATURES_PER_PRODUCT))
        created = self.ref.now - (dist.SPAN_DAYS + 30) * DAY
        orgs = []
        for _ in range(n_orgs):
            oid = self.next_id("organisation")
            name = (f"{rng.choice(PREFIXES)}{rng.choice(SUFFIXES)} {rng.choice(FORMS)} "
                    f"{rng.choice(CITIES)}")
            self.org_names[oid] = name
            out["organisation"].append((oid, name, f"{80_000_000_000_000 + oid}",
                                        f"contact{oid}@editeur{oid}.example.fr", created))
            orgs.append(oid)
        number = 883
        for _ in range(n_products):
            pid, oid = self.next_id("product"), rng.choice(orgs)
            name, version = f"{rng.choice(PREFIXES)}{rng.choice(SUFFIXES)}", \
                f"v{rng.randint(0, 9)}.{rng.randint(0, 20)}"
            qualification = {k: rng.choice(["oui", "non"]) for k in (
                "dispositif_medical", "hebergement_hds", "interfacage_dmp", "mobile")}
            out["product"].append((
                pid, oid, number, name, version, rng.choice(("socle", "option")),
                f"NIL-{number:06d}", f"Responsable {name}", f"{name} : logiciel de santé.",
                json.dumps(["ISO 27001", "HDS"] if number % 2 else ["ISO 13485"]),
                json.dumps(qualification), created))
            self.products.append((pid, oid, f"{name} - {version} - {number}"))
            self.product_names[pid] = name
            number += 1
        return out

    # --- one candidature ----------------------------------------------------------------

    def candidature(self, index: int, out: dict[str, list[tuple[Any, ...]]]) -> None:
        rng, ref = self.rng, self.ref
        t0 = self.created_at(index)
        cid = self.next_id("candidature")
        large = self.large.get(index)
        pending = index in self.pending
        if large:
            code = "dmn_nom_de_marque"
        elif pending:  # a démarche that ends with a certificate or an attestation
            code = rng.choice(("dmn_nom_de_marque", "dmn_pecan", "sons_sas"))
        else:
            code = dist.pick(rng, dist.DEMARCHE_WEIGHTS)
        definition = DEMARCHES[code]
        steps = definition.steps_for(ref.phase_transitoire[code])
        parcours = definition.parcours.value
        key = "sons_sas" if code == "sons_sas" else (
            "dmn_ligne_generique" if steps != definition.steps else "dmn")
        age = (ref.now - t0) / DAY
        p_open = next(p for limit, p in dist.OPEN_BY_AGE if age < limit)
        outcome = None
        if large:
            current, status = "preuves", "en_cours"
        elif pending:
            current, status = steps[-1], "emission_en_cours"
        elif rng.random() < p_open:
            current = dist.pick(rng, dist.OPEN_STEP_WEIGHTS[key])
            status = dist.pick(rng, dist.OPEN_STATUS_WEIGHTS[STEPS[current].kind.value])
        else:
            outcome = dist.pick(rng, dist.OUTCOME_WEIGHTS)
            current, status = self._ended_at(outcome, steps, key)
        index_current = steps.index(current)
        product_id, org_id, product_label = rng.choice(self.products)
        verifs = ref.verificateurs[parcours]

        # Durations of the steps up to the current one, squeezed into the candidature's age.
        durations = [(rng.uniform(*dist.FILL_DAYS), rng.uniform(*dist.DECIDE_DAYS))
                     for _ in range(index_current + 1)]
        total = sum(a + b for a, b in durations[:-1]) + durations[-1][0] + 1
        scale = max(0.0, min(1.0, age * 0.9 / total)) * DAY
        clock = t0
        step_rows, self_steps = [], []
        request_ids = self._request_id
        actor_vendor = f"API: {self.org_names[org_id]}"
        ev = self.events
        ev.audit(t0, None, actor_vendor, "candidature.ouvrir", "candidature", cid, cid, None,
                 {"demarche": code, "product": product_label}, request_ids())
        messages: list[tuple[float, str, str, str]] = [
            (t0, "candidature.ouverte", "Candidature créée", "Votre candidature a été créée.")]
        referentiel_id, profils = None, []
        last = t0
        for position, step in enumerate(steps):
            kind = STEPS[step].kind
            sid = self.next_id("candidature_step")
            row = {"status": "a_venir", "assignee": None, "informative": False,
                   "opened": None, "submitted": None, "due": None, "paused": None,
                   "remaining": None, "decided": None, "decided_by": None}
            if position <= index_current:
                fill, decide = durations[position]
                row["opened"] = clock
                submitted = clock + fill * scale
                decider = rng.choice(verifs)
                if position < index_current:
                    row.update(status=PASSED[kind], submitted=submitted,
                               decided=submitted + decide * scale, decided_by=decider)
                    row["informative"] = key == "dmn_ligne_generique" and step == "recevabilite"
                    clock = row["decided"]
                else:
                    row["status"] = status
                    if status not in NO_SUBMISSION:
                        row["submitted"] = submitted
                    if status in HELD or (status == "rejetee"):
                        row["assignee"] = decider
                    if status in DECIDED or status == "emis":
                        row["decided"] = min(submitted + decide * scale, ref.now - 60)
                        row["decided_by"] = decider if status in DECIDED else None
                    if outcome is None and row["submitted"] and status not in DECIDED:
                        days, working = ref.delays.get((code, step), (0, False))
                        if days and status == "complements_demandes":
                            row["paused"] = min(submitted + rng.uniform(1, 10) * DAY,
                                                ref.now - 60)
                            row["remaining"] = days - (row["paused"] - submitted) / DAY
                        elif days:
                            row["due"] = submitted + days * (1.4 if working else 1) * DAY
                last = max(last, row["decided"] or row["submitted"] or row["opened"])
                if kind == StepKind.form:
                    self._form_step(cid, code, parcours, step, row, actor_vendor, out)
                    if step in ("recevabilite", "eligibilite") and row["status"] == "validee":
                        referentiel_id, profils = self._profils(code)
                elif kind == StepKind.convention:
                    self._convention(cid, row, out)
                elif kind == StepKind.preuves:
                    if referentiel_id is None:
                        referentiel_id, profils = self._profils(code)
                    self._preuves(cid, code, profils, row, actor_vendor, verifs, large, out)
                if row["status"] != "a_venir":
                    messages.append((row["submitted"] or row["opened"], f"{kind.value}.etape",
                                     f"{STEPS[step].label} : {row['status']}",
                                     f"L'étape « {STEPS[step].label} » est passée au statut "
                                     f"« {row['status']} »."))
                self._step_audit(cid, sid, step, row, actor_vendor)
            # what the workflow records at a decision (workflow/delays.record_lead): the
            # clock ran from submission to decision, less the days the step was paused for
            # compléments (a share of the decided steps that have a delay)
            lead = within = None
            paused = 0.0
            delay = ref.delays.get((code, step), (0, False))[0]
            if delay and row["decided"] and row["submitted"]:
                elapsed = max((row["decided"] - row["submitted"]) / DAY, 0.0)
                if rng.random() < dist.PAUSED_SHARE:
                    paused = elapsed * rng.uniform(0.1, 0.6)
                lead = elapsed - paused
                within = lead <= delay
            step_rows.append((sid, cid, step, position, row["status"], row["assignee"],
                              row["informative"], row["opened"], row["submitted"], row["due"],
                              row["paused"], row["remaining"], row["decided"],
                              row["decided_by"], last, lead, within, paused))
            self_steps.append(row)
        closed = None
        final = "en_cours"
        if outcome is not None:
            final = {"success": SUCCESS.get(code, "certifiee"), "rejetee": "rejetee"}.get(
                outcome, outcome)
            closed = min(last + rng.uniform(0, 5) * DAY, ref.now - 60)
            last = closed
            if outcome in ("abandonnee", "close_sans_suite"):
                action = "abandonner" if outcome == "abandonnee" else "clore_sans_suite"
                ev.audit(closed, None if outcome == "abandonnee" else rng.choice(verifs),
                         actor_vendor, f"candidature.{action}", "candidature", cid, cid,
                         {"status": "en_cours"}, {"status": final}, request_ids())
            # an ended candidature's clocks are stopped (due_at, paused_at, remaining_days)
            step_rows = [r[:9] + (None, None, None) + r[12:] for r in step_rows]
        out["candidature_step"].extend(step_rows)
        window = self._window(code, t0)
        reference = large or reference_for(cid)
        row = (cid, reference, org_id, product_id, code, window, current, final, t0,
               self_steps[0]["submitted"], last, closed, referentiel_id, json.dumps(profils),
               f"contact{org_id}@editeur{org_id}.example.fr", rng.random() < 0.7, 1)
        if len(COLUMNS["candidature"]) > len(row):  # the queue projection of the current step
            step_row = step_rows[index_current]
            waiting = any(r[5] in SECTIONS_WAITING_ON_ANS for r in
                          takewhile(lambda r: r[1] == cid, reversed(out["section_review"])))
            row += (step_row[8] or step_row[7] or t0, step_row[4], step_row[5],
                    step_row[9] or FAR_FUTURE, turn_of(step_row[4], waiting),
                    search_text(reference, self.product_names[product_id],
                                self.org_names[org_id]))
        out["candidature"].append(row)
        self._messages(cid, t0, last, messages, verifs, large, out)
        self.counts["large" if large else ("pending" if pending else final)] += 1

    def _ended_at(self, outcome: str, steps: tuple[str, ...], key: str) -> tuple[str, str]:
        rng = self.rng
        if outcome == "success":
            last = steps[-1]
            return last, PASSED[STEPS[last].kind]
        if outcome == "rejetee":
            forms = [s for s in steps if STEPS[s].kind == StepKind.form]
            if "college" in steps and rng.random() < 0.2:
                return "college", "defavorable"
            return rng.choice(forms), "rejetee"
        current = dist.pick(rng, dist.OPEN_STEP_WEIGHTS[key])
        return current, dist.pick(rng, dist.OPEN_STATUS_WEIGHTS[STEPS[current].kind.value])

    def _request_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _window(self, code: str, t0: float) -> int | None:
        for opens, closes, wid in self.ref.windows.get(code, ()):
            if opens <= t0 < closes:
                return wid
        return None

    def _profils(self, code: str) -> tuple[int, list[str]]:
        ref_code = "sons_sas" if code == "sons_sas" else "dmn"
        known = self.ref.profils[ref_code]
        if ref_code == "sons_sas":
            chosen = sorted(known)
        else:
            chosen = ["GEN"] + [p for p in sorted(known) if p != "GEN"
                                and self.rng.random() < dist.DMN_PROFIL_PROBABILITY]
        return self.ref.referentiels[ref_code], chosen

    def _fichier(self, cid: int, name: str, at: float, user_id: int | None,
                 out: dict[str, list[tuple[Any, ...]]]) -> int:
        rng = self.rng
        fid = self.next_id("fichier")
        h = f"{rng.getrandbits(128):032x}"
        kind = "pdf" if rng.random() < 0.8 else rng.choice(("png", "zip", "docx"))
        size = min(int(rng.lognormvariate(dist.FILE_SIZE_MU, dist.FILE_SIZE_SIGMA)),
                   dist.FILE_SIZE_MAX)
        content_type = {"pdf": "application/pdf", "png": "image/png",
                        "zip": "application/zip",
                        "docx": "application/vnd.openxmlformats-officedocument."
                                "wordprocessingml.document"}[kind]
        out["fichier"].append((fid, cid, f"{h[:2]}/{h[2:4]}/{h}", f"{name}.{kind}", size,
                               f"{rng.getrandbits(256):064x}", kind, content_type, at, user_id,
                               "sans_objet"))
        return fid

    def _form_step(self, cid: int, code: str, parcours: str, step: str, row: dict[str, Any],
                   actor: str, out: dict[str, list[tuple[Any, ...]]]) -> None:
        rng, ev = self.rng, self.events
        at = row["submitted"] or row["opened"]
        data = dict(FORM_DATA, produit={"nom": "Produit", "version": "v1"},
                    profils=["GENERAL"] if code == "sons_sas" else ["GEN"])
        out["step_form"].append((self.next_id("step_form"), cid, step, json.dumps(data), at))
        if row["submitted"] is None:
            return
        kinds = self.ref.pieces.get((parcours, step), [])
        wanted = [c for c, required in kinds if required]
        optional = [c for c, required in kinds if not required]
        wanted += rng.sample(optional, min(len(optional),
                                           dist.pick(rng, dist.OPTIONAL_PIECES_WEIGHTS)))
        for type_code in wanted:
            at = max(row["opened"], at - 600)
            fid = self._fichier(cid, type_code, at, None, out)
            pid = self.next_id("piece")
            out["piece"].append((pid, cid, step, type_code, fid, None))
            if rng.random() < dist.AUDITED_UPLOADS:
                ev.audit(at, None, actor, f"{step}.ajouter_piece", "piece", pid, cid, None,
                         {"type": type_code, "fichier": f"{type_code}.pdf"}, self._request_id())

    def _convention(self, cid: int, row: dict[str, Any],
                    out: dict[str, list[tuple[Any, ...]]]) -> None:
        if row["status"] in ("a_venir", "a_envoyer"):
            return
        sent = row["submitted"] or row["opened"]
        signed = (row["decided"] or row["submitted"] or sent) \
            if row["status"] in ("signee", "validee") else None
        signed_file = self._fichier(cid, "convention_signee", signed, None, out) \
            if row["status"] == "validee" else None
        out["convention"].append((self.next_id("convention"), cid,
                                  f"sr-{self.rng.getrandbits(64):016x}", sent, signed,
                                  signed_file))

    def _step_audit(self, cid: int, sid: int, step: str, row: dict[str, Any],
                    vendor: str) -> None:
        ev, rid = self.events, self._request_id
        if row["submitted"] is not None:
            ev.audit(row["submitted"], None, vendor, f"{step}.soumettre", "candidaturestep",
                     sid, cid, {"status": "brouillon"}, {"status": "soumise"}, rid())
        if row["decided_by"] is not None:
            email = self.ref.emails.get(row["decided_by"], "")
            verb = {"rejetee": "rejeter", "favorable": "decider", "defavorable": "decider",
                    "avis_rendu": "rendre_avis"}.get(row["status"], "valider")
            ev.audit(row["decided"], row["decided_by"], email, f"{step}.{verb}",
                     "candidaturestep", sid, cid, {"status": "en_instruction"},
                     {"status": row["status"]}, rid())
        elif row["assignee"] is not None and row["submitted"] is not None:
            ev.audit(row["submitted"] + 3600, row["assignee"],
                     self.ref.emails.get(row["assignee"], ""), f"{step}.prendre",
                     "candidaturestep", sid, cid, {"status": "soumise"},
                     {"status": "en_instruction", "assignee": row["assignee"]}, rid())

    # --- the whole run ------------------------------------------------------------------

    def batches(self, size: int = 2000) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
        """Row buffers, batch after batch, parents first; events drained in time order."""
        yield self.organisations_and_products()
        index = 0
        while index < self.n:
            out: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
            stop = min(self.n, index + size)
            for i in range(index, stop):
                self.candidature(i, out)
            frontier = self.created_at_floor(stop)
            self.events.drain(frontier, out)
            index = stop
            yield out
        out = defaultdict(list)
        self.events.drain(math.inf, out)
        yield out

    def created_at_floor(self, index: int) -> float:
        """No candidature from `index` on is created before this time."""
        if index >= self.n:
            return math.inf
        u = index / self.n
        return self.ref.now - dist.SPAN_DAYS * DAY * (1 - math.sqrt(u)) - 3600
