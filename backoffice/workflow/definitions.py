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

class StepStatus(StrEnum):
    """A step's status; "a_venir" is a step not opened yet, "brouillon" a form step the
    vendor is still filling in on the portal."""

    a_venir = "a_venir"
    brouillon = "brouillon"
    soumise = "soumise"
    en_instruction = "en_instruction"
    complements_demandes = "complements_demandes"
    validee = "validee"
    rejetee = "rejetee"
    a_envoyer = "a_envoyer"
    envoyee = "envoyee"
    signee = "signee"
    expiree = "expiree"
    refusee = "refusee"
    en_cours = "en_cours"
    en_attente_depot = "en_attente_depot"
    deposees = "deposees"
    avis_rendu = "avis_rendu"
    a_programmer = "a_programmer"
    inscrite = "inscrite"
    favorable = "favorable"
    defavorable = "defavorable"
    emission_en_cours = "emission_en_cours"
    emis = "emis"
    echec_emission = "echec_emission"


class SectionStatus(StrEnum):
    """A section of the preuves step, reviewed in rounds."""

    a_completer = "a_completer"
    soumise = "soumise"
    en_revue = "en_revue"
    validee = "validee"
    modifications_demandees = "modifications_demandees"


class Turn(StrEnum):
    """Whose move it is while a step (or a section) is in a status."""

    ans = "ans"
    industriel = "industriel"
    sections = "sections"  # the preuves step: ANS's while a section waits on its review


@dataclass(frozen=True)
class StatusDef:
    label: str  # French, as users read it
    colour: str | None  # DSFR badge modifier (fr-badge--<colour>), None: the plain badge
    turn: Turn | None  # None: nobody's move (not opened, decided, or the system's)
    decided: bool = False  # records a decision: the row carries its date (CHECK "decided")


S, T = StepStatus, Turn

# Every status of a step or a section, once: a status missing here is a KeyError, never a
# silent None (test_definitions checks that every enum member has its row).
STATUSES: dict[str, StatusDef] = {
    S.a_venir: StatusDef("À venir", None, None),
    S.brouillon: StatusDef("Brouillon", None, T.industriel),
    S.soumise: StatusDef("Soumise", "info", T.ans),
    S.en_instruction: StatusDef("En instruction", "new", T.ans),
    S.complements_demandes: StatusDef("Compléments demandés", "warning", T.industriel),
    S.validee: StatusDef("Validée", "success", None, decided=True),
    S.rejetee: StatusDef("Rejetée", "error", None, decided=True),
    S.a_envoyer: StatusDef("À envoyer", "info", T.ans),
    S.envoyee: StatusDef("Envoyée pour signature", "warning", T.industriel),
    S.signee: StatusDef("Signée", "info", T.ans),
    S.expiree: StatusDef("Expirée", "error", T.ans),
    S.refusee: StatusDef("Refusée", "error", T.ans),
    S.en_cours: StatusDef("En cours", None, T.sections),
    S.en_attente_depot: StatusDef("En attente du dépôt", "warning", T.industriel),
    S.deposees: StatusDef("Déposées", "info", T.ans),
    S.avis_rendu: StatusDef("Avis rendu", None, None, decided=True),
    S.a_programmer: StatusDef("À programmer", None, T.ans),
    S.inscrite: StatusDef("Inscrite à une séance", None, T.ans),
    S.favorable: StatusDef("Favorable", None, None, decided=True),
    S.defavorable: StatusDef("Défavorable", None, None, decided=True),
    S.emission_en_cours: StatusDef("Émission en cours", None, None),
    S.emis: StatusDef("Émis", "success", None),
    S.echec_emission: StatusDef("Échec de l'émission", "error", T.ans),
    # sections of the preuves step (soumise and validee are shared with the steps)
    SectionStatus.a_completer: StatusDef("À compléter", None, T.industriel),
    SectionStatus.en_revue: StatusDef("En revue", None, T.ans),
    SectionStatus.modifications_demandees: StatusDef("Modifications demandées", "warning",
                                                     T.industriel),
}

# Statuses per kind of step.
STEP_STATUSES: dict[StepKind, tuple[StepStatus, ...]] = {
    StepKind.form: (S.a_venir, S.brouillon, S.soumise, S.en_instruction,
                    S.complements_demandes, S.validee, S.rejetee),
    StepKind.convention: (S.a_venir, S.a_envoyer, S.envoyee, S.signee, S.expiree, S.refusee,
                          S.validee),
    StepKind.preuves: (S.a_venir, S.en_cours, S.validee),
    StepKind.preuves_pour_avis: (S.a_venir, S.en_attente_depot, S.deposees, S.avis_rendu),
    StepKind.college: (S.a_venir, S.a_programmer, S.inscrite, S.favorable, S.defavorable),
    StepKind.emission: (S.a_venir, S.emission_en_cours, S.emis, S.echec_emission),
}

ALL_STEP_STATUSES: tuple[str, ...] = tuple(
    dict.fromkeys(s.value for statuses in STEP_STATUSES.values() for s in statuses)
)
SECTION_STATUSES: tuple[str, ...] = tuple(s.value for s in SectionStatus)

STEP_STATUS_LABELS: dict[str, str] = {code: d.label for code, d in STATUSES.items()}
STATUS_COLOURS: dict[str, str] = {code: d.colour for code, d in STATUSES.items() if d.colour}

# Statuses that record a decision: the step row must then carry its date.
DECIDED_STATUSES: tuple[str, ...] = tuple(
    code for code in ALL_STEP_STATUSES if STATUSES[code].decided)


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


def turn_of(status: str, sections_waiting: bool = False) -> str | None:
    """Whose move it is while a step is in `status` ("ans", "industriel" or None); the
    preuves step's ("en_cours"): ANS's as long as a section waits for its review."""
    turn = STATUSES[status].turn
    if turn == Turn.sections:
        return Turn.ans.value if sections_waiting else Turn.industriel.value
    return turn.value if turn is not None else None
