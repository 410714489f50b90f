"""Every transition against every status of its kind: from an allowed status it moves
to its target, writes its audit row, posts to the thread and queues the notification;
from any other status it raises TransitionError and leaves the database unchanged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from backoffice.db import db, utcnow
from backoffice.models import (
    AuditEvent,
    Convention,
    ExigenceVerdict,
    Message,
    Preuve,
    SectionReview,
    ZipPourAvis,
)
from backoffice.tasks import _PENDING
from backoffice.workflow import (
    assignment,
    avis,
    candidatures,
    college,
    convention,
    emission,
    forms,
    preuves,
    support,
)
from backoffice.workflow.base import SYSTEME, TRANSITIONS, TransitionError
from backoffice.workflow.definitions import (
    DECIDED_STATUSES,
    STEP_STATUSES,
    CandidatureStatus,
    StepKind,
)
from backoffice.workflow.referentiels import open_sections
from backoffice.workflow.steps import INITIAL_STATUS
from tests.factories import CandidatureFactory, UserFactory, fichier_for

SECTION_STATUSES = ("a_completer", "soumise", "en_revue", "validee", "modifications_demandees")


@dataclass
class World:
    industriel: Any
    verif: Any
    college: Any
    admin: Any
    product: Any
    support: Any


@dataclass
class Case:
    demarche: str
    step: str
    call: Callable[[Any, World], Any]
    prepare: Callable[[Any, World, str], None] | None = None
    posts: bool = True  # posts an automatic message
    notifies: bool = True  # ... that is e-mailed to the vendor
    action: str | None = None  # the audit action, when not the transition's name

    def audit_action(self, name: str) -> str:
        return self.action or name.replace("form.", f"{self.step}.")


def _stale_issuance(c, w, status):  # noqa: ANN001, ANN202, ARG001
    """An issuance « en cours » for longer than ISSUANCE_RETRY_AFTER_MINUTES may be retried."""
    from datetime import timedelta

    c.last_activity_at = utcnow() - timedelta(hours=2)


def _fill_recevabilite(c, w, status):  # noqa: ANN001, ANN202
    step = c.step("recevabilite")
    saved, step.status = step.status, "brouillon"
    from backoffice.workflow.scenarios import Driver

    Driver(w.industriel, w.verif, w.college, fichier_for).fill(c, "recevabilite")
    step.status = saved


def _zip(c, w, status):  # noqa: ANN001, ANN202
    if status in ("deposees", "avis_rendu"):
        db.add(ZipPourAvis(candidature_id=c.id, fichier_id=fichier_for(c, "p.zip").id))


def _sending(c, w, status):  # noqa: ANN001, ANN202
    """The vérificateur sent it; the job has not created the Yousign request yet."""
    db.add(Convention(candidature_id=c.id, sent_at=utcnow()))


def _section_files(c, w, status):  # noqa: ANN001, ANN202
    section = _first_section(c)
    for exigence in section.exigences:
        db.add(Preuve(candidature_id=c.id, exigence_id=exigence.id,
                      fichier_id=fichier_for(c, "x.pdf").id, round_added=1))


def _verdicts(nc_first: bool):  # noqa: ANN202
    def prepare(c, w, status):  # noqa: ANN001, ANN202
        section = _first_section(c)
        for i, exigence in enumerate(section.exigences):
            verdict = "non_conforme" if nc_first and i == 0 else "conforme"
            db.add(ExigenceVerdict(exigence_id=exigence.id, round=1, verdict=verdict,
                                   comment="à revoir" if verdict == "non_conforme" else None,
                                   author_id=w.verif.id))
    return prepare


def _first_section(c) -> SectionReview:  # noqa: ANN001
    return db.scalars(select(SectionReview).where(SectionReview.candidature_id == c.id)
                      .order_by(SectionReview.position)).first()


def _exigence(c):  # noqa: ANN001, ANN202
    return _first_section(c).exigences[0].code


CASES: dict[str, Case] = {
    "form.soumettre": Case("dmn_nom_de_marque", "recevabilite",
                           lambda c, w: forms.soumettre(c, "recevabilite", actor=w.industriel),
                           _fill_recevabilite),
    "form.prendre": Case("dmn_nom_de_marque", "recevabilite",
                         lambda c, w: forms.prendre(c, "recevabilite", actor=w.verif)),
    "form.valider": Case("dmn_nom_de_marque", "recevabilite",
                         lambda c, w: forms.valider(c, "recevabilite", actor=w.verif)),
    "form.demander_complements": Case(
        "dmn_nom_de_marque", "recevabilite",
        lambda c, w: forms.demander_complements(c, "recevabilite", actor=w.verif,
                                                message="Pièce illisible")),
    "form.rejeter": Case("dmn_nom_de_marque", "recevabilite",
                         lambda c, w: forms.rejeter(c, "recevabilite", actor=w.verif,
                                                    motif="Hors champ")),
    "form.liberer": Case("dmn_nom_de_marque", "recevabilite",
                         lambda c, w: assignment.liberer(c, actor=w.verif), posts=False,
                         action="attribution.liberer"),
    "convention.envoyer": Case("dmn_nom_de_marque", "convention",
                               lambda c, w: convention.envoyer(c, actor=w.verif,
                                                               signature_request_id="sr-1")),
    "convention.marquer_signee": Case("dmn_nom_de_marque", "convention",
                                      lambda c, w: convention.marquer_signee(c, actor=SYSTEME)),
    "convention.marquer_expiree": Case("dmn_nom_de_marque", "convention",
                                       lambda c, w: convention.marquer_expiree(c, actor=SYSTEME)),
    "convention.marquer_refusee": Case("dmn_nom_de_marque", "convention",
                                       lambda c, w: convention.marquer_refusee(
                                           c, actor=SYSTEME, motif="Mauvais signataire")),
    "convention.marquer_annulee": Case("dmn_nom_de_marque", "convention",
                                       lambda c, w: convention.marquer_annulee(c, actor=SYSTEME)),
    "convention.envoi_echoue": Case("dmn_nom_de_marque", "convention",
                                    lambda c, w: convention.envoi_echoue(
                                        c, actor=SYSTEME, erreur="Yousign (503)"),
                                    _sending, notifies=False),
    "convention.valider": Case("dmn_nom_de_marque", "convention",
                               lambda c, w: convention.valider(c, actor=w.verif)),
    "pour_avis.deposer": Case(
        "dmn_ligne_generique", "preuves_pour_avis",
        lambda c, w: avis.deposer_zip(c, actor=w.industriel, fichier=fichier_for(c, "a.zip"),
                                      report={}), _zip),
    "pour_avis.rendre_avis": Case(
        "dmn_ligne_generique", "preuves_pour_avis",
        lambda c, w: avis.rendre_avis(c, actor=w.verif, par_exigence={"INS 1.1": "ok"},
                                      message="Avis"), _zip),
    "pour_avis.retirer": Case("dmn_ligne_generique", "preuves_pour_avis",
                              lambda c, w: support.retirer_depot(c, actor=w.support),
                              posts=False),
    "college.inscrire": Case("dmn_nom_de_marque", "college",
                             lambda c, w: college.inscrire(c, actor=w.college)),
    "college.favorable": Case("dmn_nom_de_marque", "college",
                              lambda c, w: college.decision_favorable(c, actor=w.college)),
    "college.defavorable": Case("dmn_nom_de_marque", "college",
                                lambda c, w: college.decision_defavorable(c, actor=w.college,
                                                                          motif="Non conforme")),
    "college.ajourner": Case("dmn_nom_de_marque", "college",
                             lambda c, w: college.ajourner(c, actor=w.college, motif="À revoir")),
    "emission.reussie": Case("dmn_nom_de_marque", "certificat",
                             lambda c, w: emission.emission_reussie(c, actor=SYSTEME,
                                                                    numero="ANS-DMN-2026-000001"),
                             action="certificat.emis"),
    "emission.echouee": Case("dmn_nom_de_marque", "certificat",
                             lambda c, w: emission.emission_echouee(c, actor=SYSTEME,
                                                                    erreur="timeout"),
                             notifies=False, action="certificat.echec"),
    "emission.relancer": Case("dmn_nom_de_marque", "certificat",
                              lambda c, w: emission.relancer(c, actor=w.admin),
                              _stale_issuance, posts=False, action="certificat.relancer"),
    "section.soumettre": Case("dmn_nom_de_marque", "preuves",
                              lambda c, w: preuves.soumettre_section(
                                  c, _first_section(c).code, actor=w.industriel),
                              _section_files),
    "section.commencer_revue": Case("dmn_nom_de_marque", "preuves",
                                    lambda c, w: preuves.commencer_revue(
                                        c, _first_section(c).code, actor=w.verif), posts=False),
    "section.juger_exigence": Case("dmn_nom_de_marque", "preuves",
                                   lambda c, w: preuves.juger_exigence(
                                       c, _first_section(c).code, _exigence(c), actor=w.verif,
                                       verdict="non_conforme", comment="Illisible"),
                                   posts=False),
    "section.valider": Case("dmn_nom_de_marque", "preuves",
                            lambda c, w: preuves.valider_section(
                                c, _first_section(c).code, actor=w.verif), _verdicts(False)),
    "section.demander_modifications": Case("dmn_nom_de_marque", "preuves",
                                           lambda c, w: preuves.demander_modifications(
                                               c, _first_section(c).code, actor=w.verif),
                                           _verdicts(True)),
    "candidature.abandonner": Case("sons_sas", "eligibilite",
                                   lambda c, w: candidatures.abandonner(c, actor=w.industriel)),
    "candidature.clore_sans_suite": Case(
        "sons_sas", "eligibilite",
        lambda c, w: candidatures.clore_sans_suite(c, actor=w.admin, motif="Doublon")),
}


def test_every_registered_transition_has_a_case() -> None:
    assert set(CASES) == set(TRANSITIONS)


def _statuses_of(kind: str) -> tuple[str, ...]:
    if kind == "section":
        return SECTION_STATUSES
    if kind == "candidature":
        return tuple(s.value for s in CandidatureStatus)
    return STEP_STATUSES[StepKind(kind)]


PAIRS = [(name, status) for name, info in sorted(TRANSITIONS.items())
         for status in _statuses_of(info.kind)]


@pytest.fixture
def world(referentiels, industriel, dmn_verif, college_member, product):  # noqa: ANN001, ANN201
    dmn_verif.teams[0].parcours = "dmn"
    segur_and_dmn = UserFactory(roles=["admin"])
    return World(industriel, dmn_verif, college_member, segur_and_dmn, product,
                 UserFactory(roles=["support"]))


def _build(case: Case, info, status: str, w: World):  # noqa: ANN001, ANN202
    if case.demarche == "sons_sas":
        w.verif.teams[0].parcours = "segur"
    kind = info.kind
    step_status = "en_cours" if case.step == "preuves" else (
        status if kind not in ("section", "candidature") else
        INITIAL_STATUS[StepKind.form] if case.step in ("recevabilite", "eligibilite") else "")
    if kind == "candidature":
        step_status = "soumise"
    c = CandidatureFactory(product=w.product, organisation=w.product.organisation,
                           demarche_code=case.demarche, at=case.step,
                           status_at_step=step_status, deciders=[w.verif])
    c.contact_email, c.email_opt_in = "contact@editeur.example.fr", True
    step = c.step(case.step)
    step.assignee = w.verif
    if step.status in DECIDED_STATUSES:
        step.decided_at = utcnow()
    if case.step == "preuves":
        open_sections(c)
        section = _first_section(c)
        section.status, section.assignee_id = status, w.verif.id
        if status == "validee":
            section.decided_at = utcnow()
    if kind == "candidature":
        c.status = status
        if status != "en_cours":
            c.closed_at = utcnow()
    if case.prepare:
        case.prepare(c, w, status)
    db.flush()
    return c


def _snapshot(c) -> tuple:  # noqa: ANN001
    db.flush()
    db.expire_all()
    sections = db.execute(select(SectionReview.code, SectionReview.status, SectionReview.round)
                          .where(SectionReview.candidature_id == c.id)).all()
    counts = [db.scalar(select(func.count()).select_from(m)) for m in
              (AuditEvent, Message, ExigenceVerdict, Preuve, ZipPourAvis)]
    return (c.status, c.current_step, tuple((s.step, s.status) for s in c.steps),
            tuple(sections), tuple(counts))


@pytest.mark.parametrize(("name", "status"), PAIRS)
def test_transition_from_status(world, name, status) -> None:  # noqa: ANN001
    info, case = TRANSITIONS[name], CASES[name]
    c = _build(case, info, status, world)
    before = _snapshot(c)
    audit_before = before[-1][0]
    if status in info.sources:
        db().info.pop(_PENDING, None)
        case.call(c, world)
        db.flush()
        after = _snapshot(c)
        if info.kind == "section":
            new_status = _first_section(c).status
        elif info.kind == "candidature":
            new_status = c.status
        else:
            new_status = c.step(case.step).status
        assert new_status in info.targets
        new_actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc())
                                 .limit(after[-1][0] - audit_before)).all()
        assert case.audit_action(name) in new_actions
        pending = [args for fn, args in db().info.get(_PENDING, [])]
        notified = any(a and a[0] == "notifications.envoyer" for a in pending)
        assert (after[-1][1] > before[-1][1]) is case.posts, "automatic message"
        assert notified is (case.posts and case.notifies), "notification queued"
    else:
        with pytest.raises(TransitionError):
            case.call(c, world)
        assert _snapshot(c) == before
