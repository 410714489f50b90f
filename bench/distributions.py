"""The shape of the generated data, in one place (docs/benchmarks.md explains each choice),
and the two draws made from it.

Weights are relative. Times are in days unless said otherwise."""

from __future__ import annotations

import bisect
import itertools
import math
import random
from typing import Any

# How the candidatures split between the démarches: SONS SAS is the high-volume Ségur
# programme, nom de marque the bulk of DMN.
DEMARCHE_WEIGHTS = {
    "sons_sas": 45,
    "dmn_nom_de_marque": 25,
    "dmn_pecan": 12,
    "dmn_pect": 8,
    "dmn_ligne_generique": 10,
}

# Candidatures are filed over SPAN_DAYS, more of them recently (intake density grows
# linearly towards today).
SPAN_DAYS = 5 * 365

# Probability that a candidature is still open, by age (days) — older ones have ended.
OPEN_BY_AGE = ((60, 0.97), (180, 0.88), (365, 0.55), (730, 0.2), (10**9, 0.04))

# How an ended candidature ended.
OUTCOME_WEIGHTS = {"success": 55, "rejetee": 20, "abandonnee": 18, "close_sans_suite": 7}

# Where an open candidature waits, by démarche (step -> weight).
OPEN_STEP_WEIGHTS = {
    "dmn": {"recevabilite": 35, "convention": 15, "preuves": 35, "college": 12,
            "certificat": 3},
    "dmn_ligne_generique": {"recevabilite": 50, "preuves_pour_avis": 50},
    "sons_sas": {"depot": 25, "eligibilite": 20, "convention": 15, "preuves": 35,
                 "referencement": 5},
}

# Status of the current step of an open candidature, by kind of step.
OPEN_STATUS_WEIGHTS = {
    "form": {"brouillon": 10, "soumise": 35, "en_instruction": 30, "complements_demandes": 25},
    "convention": {"a_envoyer": 30, "envoyee": 45, "signee": 15, "expiree": 5, "refusee": 5},
    "preuves": {"en_cours": 1},
    "preuves_pour_avis": {"en_attente_depot": 50, "deposees": 50},
    "college": {"a_programmer": 60, "inscrite": 40},
    "emission": {"emission_en_cours": 60, "echec_emission": 40},
}

# Sections of an open preuves step.
SECTION_STATUS_WEIGHTS = {"a_completer": 25, "soumise": 30, "en_revue": 15, "validee": 20,
                          "modifications_demandees": 10}
ROUND_WEIGHTS = {1: 75, 2: 20, 3: 5}

# Profils a DMN vendor picks besides GEN (each independently).
DMN_PROFIL_PROBABILITY = 0.25

# Files per exigence (a file may cover several exigences, some are declared non applicable).
FILES_PER_EXIGENCE = {0: 28, 1: 58, 2: 10, 3: 3, 4: 1}

# Pièces justificatives per submitted form step: the required ones, plus optional extras.
OPTIONAL_PIECES_WEIGHTS = {0: 50, 1: 35, 2: 15}

# Messages of a thread (automatic, vendor, ANS, internal notes). A thread has on average
# MESSAGES_BASE x (0.5 + steps reached / 4) messages (capped at x 2.5): about 2 per
# candidature overall, more for advanced dossiers; some carry an attachment.
MESSAGE_KIND_WEIGHTS = {"automatique": 55, "industriel": 22, "ans": 17, "note_interne": 6}
MESSAGES_BASE = 1.3
ATTACHMENT_PROBABILITY = 0.12

# Share of uploads (pièces, preuves) whose audit row is generated. The application audits
# every upload; sampling them keeps the audit table at the 10 rows per candidature
# (about 17 otherwise). The large dossiers keep every row.
AUDITED_UPLOADS = 0.1

# Duration of a step: vendor's time to submit, ANS's time to decide (days, uniform ranges).
FILL_DAYS = (0.05, 10)
DECIDE_DAYS = (1, 40)
# A decided step with a legal delay was paused for compléments in this share of cases
# (the days paused, 10 to 60 % of its time at ANS, are not counted in its lead time).
PAUSED_SHARE = 0.25

# File sizes: log-normal around 400 kB, capped.
FILE_SIZE_MU, FILE_SIZE_SIGMA, FILE_SIZE_MAX = 12.9, 1.2, 200 * 1024 * 1024

# The "large dossiers" the dossier page is measured on.
LARGE_PREUVES, LARGE_MESSAGES = 200, 500

# Candidatures left waiting for their certificate, so that issuance can be measured.
PENDING_ISSUANCE_MIN, PENDING_ISSUANCE_SHARE = 30, 1 / 2000

# Organisations and products per candidature.
CANDIDATURES_PER_ORGANISATION = 200
CANDIDATURES_PER_PRODUCT = 2.5

# Vérificateurs (per parcours), collège members, support agents.
VERIFICATEURS = {"dmn": 40, "segur": 20}
COLLEGE, SUPPORT = 7, 3


_CUMULATIVE: dict[int, tuple[tuple[Any, ...], list[float], float]] = {}


def pick(rng: random.Random, weights: dict[Any, float]) -> Any:
    """rng.choices(keys, weights)[0], with the cumulative weights computed once."""
    cached = _CUMULATIVE.get(id(weights))
    if cached is None:
        cached = _CUMULATIVE[id(weights)] = (
            tuple(weights), list(itertools.accumulate(weights.values())),
            float(sum(weights.values())))
    keys, cumulative, total = cached
    return keys[bisect.bisect_right(cumulative, rng.random() * total)]


def poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
