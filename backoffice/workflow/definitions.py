"""The démarches as data: their parcours, steps and the statuses of each kind of step
(design.md, "Parcours, démarches and their steps"). Nothing here changes a status."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Parcours(StrEnum):
    dmn = "dmn"
    segur = "segur"


PARCOURS_LABELS = {
    Parcours.dmn: "Certification de conformité des DMN",
    Parcours.segur: "Ségur du numérique en santé",
}


class StepKind(StrEnum):
    form = "form"
    convention = "convention"
    preuves = "preuves"
    preuves_pour_avis = "preuves_pour_avis"
    college = "college"
    emission = "emission"


@dataclass(frozen=True)
class StepDef:
    code: str
    label: str
    kind: StepKind


STEPS: dict[str, StepDef] = {
    s.code: s
    for s in (
        StepDef("recevabilite", "Recevabilité", StepKind.form),
        StepDef("depot", "Dépôt de candidature", StepKind.form),
        StepDef("eligibilite", "Éligibilité", StepKind.form),
        StepDef("convention", "Convention", StepKind.convention),
        StepDef("preuves", "Dépôt des preuves", StepKind.preuves),
        StepDef("preuves_pour_avis", "Preuves pour avis", StepKind.preuves_pour_avis),
        StepDef("college", "Collège de certification", StepKind.college),
        StepDef("certificat", "Certificat", StepKind.emission),
        StepDef("referencement", "Référencement", StepKind.emission),
    )
}

# Statuses per kind of step. "a_venir" is a step not opened yet; "brouillon" a form
# step the vendor is still filling in on the portal.
STEP_STATUSES: dict[StepKind, tuple[str, ...]] = {
    StepKind.form: (
        "a_venir", "brouillon", "soumise", "en_instruction", "complements_demandes",
        "validee", "rejetee",
    ),
    StepKind.convention: (
        "a_venir", "a_envoyer", "envoyee", "signee", "expiree", "refusee", "validee",
    ),
    StepKind.preuves: ("a_venir", "en_cours", "validee"),
    StepKind.preuves_pour_avis: ("a_venir", "en_attente_depot", "deposees", "avis_rendu"),
    StepKind.college: ("a_venir", "a_programmer", "inscrite", "favorable", "defavorable"),
    StepKind.emission: ("a_venir", "emission_en_cours", "emis", "echec_emission"),
}

ALL_STEP_STATUSES: tuple[str, ...] = tuple(
    dict.fromkeys(s for statuses in STEP_STATUSES.values() for s in statuses)
)

STEP_STATUS_LABELS: dict[str, str] = {
    "a_venir": "À venir",
    "brouillon": "Brouillon",
    "soumise": "Soumise",
    "en_instruction": "En instruction",
    "complements_demandes": "Compléments demandés",
    "validee": "Validée",
    "rejetee": "Rejetée",
    "a_envoyer": "À envoyer",
    "envoyee": "Envoyée pour signature",
    "signee": "Signée",
    "expiree": "Expirée",
    "refusee": "Refusée",
    "en_cours": "En cours",
    "en_attente_depot": "En attente du dépôt",
    "deposees": "Déposées",
    "avis_rendu": "Avis rendu",
    "a_programmer": "À programmer",
    "inscrite": "Inscrite à une séance",
    "favorable": "Favorable",
    "defavorable": "Défavorable",
    "emission_en_cours": "Émission en cours",
    "emis": "Émis",
    "echec_emission": "Échec de l'émission",
    # sections of the preuves step
    "a_completer": "À compléter",
    "en_revue": "En revue",
    "modifications_demandees": "Modifications demandées",
}

# Statuses that record a decision: the step row must then carry its date.
DECIDED_STATUSES = ("validee", "rejetee", "favorable", "defavorable", "avis_rendu")


class CandidatureStatus(StrEnum):
    en_cours = "en_cours"
    certifiee = "certifiee"
    avis_rendu = "avis_rendu"
    referencee = "referencee"
    rejetee = "rejetee"
    abandonnee = "abandonnee"
    close_sans_suite = "close_sans_suite"


CANDIDATURE_STATUS_LABELS = {
    CandidatureStatus.en_cours: "En cours",
    CandidatureStatus.certifiee: "Certifiée",
    CandidatureStatus.avis_rendu: "Avis rendu",
    CandidatureStatus.referencee: "Référencée",
    CandidatureStatus.rejetee: "Rejetée",
    CandidatureStatus.abandonnee: "Abandonnée",
    CandidatureStatus.close_sans_suite: "Close sans suite",
}


@dataclass(frozen=True)
class DemarcheDef:
    code: str
    label: str
    parcours: Parcours
    steps: tuple[str, ...]
    # ligne générique while the démarche is in phase transitoire
    transitional_steps: tuple[str, ...] | None = None

    def steps_for(self, phase_transitoire: bool) -> tuple[str, ...]:
        if phase_transitoire and self.transitional_steps:
            return self.transitional_steps
        return self.steps


_DMN_STEPS = ("recevabilite", "convention", "preuves", "college", "certificat")

DEMARCHES: dict[str, DemarcheDef] = {
    d.code: d
    for d in (
        DemarcheDef("dmn_nom_de_marque", "Nom de marque", Parcours.dmn, _DMN_STEPS),
        DemarcheDef("dmn_pecan", "Prise en charge anticipée (PECAN)", Parcours.dmn, _DMN_STEPS),
        DemarcheDef("dmn_pect", "Prise en charge transitoire (PECT)", Parcours.dmn, _DMN_STEPS),
        DemarcheDef(
            "dmn_ligne_generique", "Ligne générique", Parcours.dmn, _DMN_STEPS,
            transitional_steps=("recevabilite", "preuves_pour_avis"),
        ),
        DemarcheDef(
            "sons_sas",
            "Référencement SONS SAS (Service d'accès aux soins)",
            Parcours.segur,
            ("depot", "eligibilite", "convention", "preuves", "referencement"),
        ),
    )
}


def step_label(code: str) -> str:
    return STEPS[code].label if code in STEPS else code


def status_label(code: str) -> str:
    return STEP_STATUS_LABELS.get(code, code)
