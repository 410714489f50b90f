"""Every transition against every status of its kind: from an allowed status it moves
to its target, writes its audit row, posts to the thread and queues the notification;
from any other status it raises TransitionError and leaves the database unchanged.
And for every status and every role, the transition's registered predicate (`can_…`,
which the pages use to show the action) is true exactly when the call succeeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from backoffice.db import db, utcnow
from backoffice.models import (
    AuditEvent,
    Certificat,
    Convention,
    ExigenceVerdict,
    Message,
    Preuve,
    SectionReview,
    ZipPourAvis,
)
from backoffice.models.certificat import STATUSES as CERTIFICAT_STATUSES
from backoffice.tasks import _PENDING
from backoffice.workflow import (
    assignment,
    avis,
    candidatures,
    certificats,
    college,
    convention,
    emission,
    forms,
    preuves,
    support,
)
from backoffice.workflow.base import SYSTEME, TRANSITIONS, Industriel, TransitionError
from backoffice.workflow.definitions import (
    DECIDED_STATUSES,
    STEP_STATUSES,
    CandidatureStatus,
    SectionStatus,
    StepKind,
)
from backoffice.workflow.referentiels import open_sections
from backoffice.workflow.steps import INITIAL_STATUS
from tests.factories import CandidatureFactory, OrganisationFactory, UserFactory, fichier_for

SECTION_STATUSES = tuple(s.value for s in SectionStatus)


@dataclass
class World:
    industriel: Any
    verif: Any  # holds the step (and the section)
    college: Any
    admin: Any
    product: Any
    support: Any
    colleague: Any  # a vérificateur of the same team who does not hold it
    other_vendor: Any
    systeme: Any = SYSTEME


ROLES = ("industriel", "other_vendor", "verif", "colleague", "college", "admin", "support",
         "systeme")


@dataclass
class Case:
    demarche: str
    step: str
    call: Callable[[Any, World, Any], Any]  # (candidature, world, actor)
    prepare: Callable[[Any, World, str], None] | None = None
    posts: bool = True  # posts an automatic message
    notifies: bool = True  # ... that is e-mailed to the vendor
    actor: str = "verif"  # the role that does it in the happy path
    args: Callable[[Any], tuple] = lambda c: ()  # the predicate's arguments after (actor, c)


def _recevabilite(c) -> tuple:
    return ("recevabilite",)


def _section(c) -> tuple:
    return (_first_section(c),)


def _stale_issuance(c, w, status):
    """An issuance « en cours » for longer than ISSUANCE_RETRY_AFTER_MINUTES may be retried."""
    from datetime import timedelta

    c.last_activity_at = utcnow() - timedelta(hours=2)


def _fill_recevabilite(c, w, status):
    step = c.step("recevabilite")
    saved, step.status = step.status, "brouillon"
    from backoffice.workflow.scenarios import Driver

    Driver(w.industriel, w.verif, w.college, fichier_for).fill(c, "recevabilite")
    step.status = saved


def _zip(c, w, status):
    if status == "a_venir":  # the recevabilité is submitted, not decided yet
        recevabilite = c.step("recevabilite")
        recevabilite.status, recevabilite.submitted_at = "soumise", utcnow()
        recevabilite.decided_at = None
        c.current_step = "recevabilite"
    if status in ("deposees", "avis_rendu"):
        db.add(ZipPourAvis(candidature_id=c.id, fichier_id=fichier_for(c, "p.zip").id))


def _sending(c, w, status):
    """The vérificateur sent it; the job has not created the Yousign request yet."""
    db.add(Convention(candidature_id=c.id, sent_at=utcnow()))


def _section_files(c, w, status):
    section = _first_section(c)
    for exigence in section.exigences:
        db.add(Preuve(candidature_id=c.id, exigence_id=exigence.id,
                      fichier_id=fichier_for(c, "x.pdf").id, round_added=1))


def _verdicts(nc_first: bool):
    def prepare(c, w, status):
        section = _first_section(c)
        for i, exigence in enumerate(section.exigences):
            verdict = "non_conforme" if nc_first and i == 0 else "conforme"
            db.add(ExigenceVerdict(exigence_id=exigence.id, round=1, verdict=verdict,
                                   comment="à revoir" if verdict == "non_conforme" else None,
                                   author_id=w.verif.id))
    return prepare


def _first_section(c) -> SectionReview:
    return db.scalars(select(SectionReview).where(SectionReview.candidature_id == c.id)
                      .order_by(SectionReview.position)).first()


def _exigence(c):
    return _first_section(c).exigences[0].code


DMN, LG, SONS = "dmn_nom_de_marque", "dmn_ligne_generique", "sons_sas"

CASES: dict[str, Case] = {
    "form.soumettre": Case(
        DMN, "recevabilite", lambda c, w, a: forms.soumettre(c, "recevabilite", actor=a),
        _fill_recevabilite, actor="industriel", args=_recevabilite),
    "form.prendre": Case(
        DMN, "recevabilite", lambda c, w, a: forms.prendre(c, "recevabilite", actor=a),
        args=_recevabilite),
    "form.valider": Case(
        DMN, "recevabilite", lambda c, w, a: forms.valider(c, "recevabilite", actor=a),
        args=_recevabilite),
    "form.demander_complements": Case(
        DMN, "recevabilite",
        lambda c, w, a: forms.demander_complements(c, "recevabilite", actor=a,
                                                   message="Pièce illisible"),
        args=_recevabilite),
    "form.rejeter": Case(
        DMN, "recevabilite",
        lambda c, w, a: forms.rejeter(c, "recevabilite", actor=a, motif="Hors champ"),
        args=_recevabilite),
    "form.liberer": Case(
        DMN, "recevabilite", lambda c, w, a: assignment.liberer(c, actor=a), posts=False),
    "convention.envoyer": Case(
        DMN, "convention",
        lambda c, w, a: convention.envoyer(c, actor=a, signature_request_id="sr-1")),
    "convention.marquer_signee": Case(
        DMN, "convention",
        lambda c, w, a: convention.marquer_signee(
            c, actor=a, signed_file=fichier_for(c, "convention-signee.pdf")),
        actor="systeme"),
    "convention.marquer_expiree": Case(
        DMN, "convention", lambda c, w, a: convention.marquer_expiree(c, actor=a),
        actor="systeme"),
    "convention.marquer_refusee": Case(
        DMN, "convention",
        lambda c, w, a: convention.marquer_refusee(c, actor=a, motif="Mauvais signataire"),
        actor="systeme"),
    "convention.marquer_annulee": Case(
        DMN, "convention", lambda c, w, a: convention.marquer_annulee(c, actor=a),
        actor="systeme"),
    "convention.envoi_echoue": Case(
        DMN, "convention",
        lambda c, w, a: convention.envoi_echoue(c, actor=a, erreur="Yousign (503)"),
        _sending, notifies=False, actor="systeme"),
    "convention.valider": Case(
        DMN, "convention", lambda c, w, a: convention.valider(c, actor=a)),
    "pour_avis.deposer": Case(
        LG, "preuves_pour_avis",
        lambda c, w, a: avis.deposer_zip(c, actor=a, fichier=fichier_for(c, "a.zip"),
                                         report={}),
        _zip, actor="industriel"),
    "pour_avis.rendre_avis": Case(
        LG, "preuves_pour_avis",
        lambda c, w, a: avis.rendre_avis(c, actor=a, par_exigence={"INS 1.1": "ok"},
                                         message="Avis"),
        _zip),
    "pour_avis.retirer": Case(
        LG, "preuves_pour_avis", lambda c, w, a: support.retirer_depot(c, actor=a),
        posts=False, actor="support"),
    "college.inscrire": Case(
        DMN, "college", lambda c, w, a: college.inscrire(c, actor=a), actor="college"),
    "college.favorable": Case(
        DMN, "college", lambda c, w, a: college.decision_favorable(c, actor=a),
        actor="college"),
    "college.defavorable": Case(
        DMN, "college",
        lambda c, w, a: college.decision_defavorable(c, actor=a, motif="Non conforme"),
        actor="college"),
    "college.ajourner": Case(
        DMN, "college", lambda c, w, a: college.ajourner(c, actor=a, motif="À revoir"),
        actor="college"),
    "emission.reussie": Case(
        DMN, "certificat",
        lambda c, w, a: emission.emission_reussie(c, actor=a, numero="ANS-DMN-2026-000001"),
        actor="systeme"),
    "emission.echouee": Case(
        DMN, "certificat",
        lambda c, w, a: emission.emission_echouee(c, actor=a, erreur="timeout"),
        notifies=False, actor="systeme"),
    "emission.relancer": Case(
        DMN, "certificat", lambda c, w, a: emission.relancer(c, actor=a), _stale_issuance,
        posts=False, actor="admin"),
    "section.soumettre": Case(
        DMN, "preuves",
        lambda c, w, a: preuves.soumettre_section(c, _first_section(c).code, actor=a),
        _section_files, actor="industriel", args=_section),
    "section.commencer_revue": Case(
        DMN, "preuves",
        lambda c, w, a: preuves.commencer_revue(c, _first_section(c).code, actor=a),
        posts=False, args=_section),
    "section.juger_exigence": Case(
        DMN, "preuves",
        lambda c, w, a: preuves.juger_exigence(c, _first_section(c).code, _exigence(c),
                                               actor=a, verdict="non_conforme",
                                               comment="Illisible"),
        posts=False, args=lambda c: (_first_section(c), _exigence(c))),
    "section.valider": Case(
        DMN, "preuves",
        lambda c, w, a: preuves.valider_section(c, _first_section(c).code, actor=a),
        _verdicts(False), args=_section),
    "section.demander_modifications": Case(
        DMN, "preuves",
        lambda c, w, a: preuves.demander_modifications(c, _first_section(c).code, actor=a),
        _verdicts(True), args=_section),
    "candidature.abandonner": Case(
        SONS, "eligibilite", lambda c, w, a: candidatures.abandonner(c, actor=a),
        actor="industriel"),
    "candidature.clore_sans_suite": Case(
        SONS, "eligibilite",
        lambda c, w, a: candidatures.clore_sans_suite(c, actor=a, motif="Doublon"),
        actor="admin"),
}


def _certificat(c) -> Certificat:
    return db.scalar(select(Certificat).where(Certificat.candidature_id == c.id))


for _verb in ("suspendre", "retirer", "retablir"):
    CASES[f"certificat.{_verb}"] = Case(
        "dmn_nom_de_marque", "certificat",
        lambda c, w, a, verb=_verb: getattr(certificats, verb)(
            _certificat(c), actor=a, motif="Non-conformité constatée"),
        actor="admin", args=lambda c: (_certificat(c),))


def test_every_registered_transition_has_a_case() -> None:
    assert set(CASES) == set(TRANSITIONS)


def _statuses_of(kind: str) -> tuple[str, ...]:
    if kind == "section":
        return SECTION_STATUSES
    if kind == "candidature":
        return tuple(s.value for s in CandidatureStatus)
    if kind == "certificat":
        return CERTIFICAT_STATUSES
    return STEP_STATUSES[StepKind(kind)]


PAIRS = [(name, status) for name, info in sorted(TRANSITIONS.items())
         for status in _statuses_of(info.kind)]


@pytest.fixture
def world(referentiels, industriel, dmn_verif, college_member, product):
    dmn_verif.teams[0].parcours = "dmn"
    segur_and_dmn = UserFactory(roles=["admin"])
    return World(industriel, dmn_verif, college_member, segur_and_dmn, product,
                 UserFactory(roles=["support"]),
                 UserFactory(roles=["verificateur"], teams=[dmn_verif.teams[0]]),
                 Industriel(OrganisationFactory()))


def _build(case: Case, info, status: str, w: World):
    if case.demarche == "sons_sas":
        w.verif.teams[0].parcours = "segur"
    kind = info.kind
    step_status = "en_cours" if case.step == "preuves" else "emis" if kind == "certificat" else (
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
    if kind == "certificat":
        c.status, c.closed_at = "certifiee", utcnow()
        db.add(Certificat(candidature_id=c.id, kind="certificat", number=f"ANS-DMN-{c.id}",
                          fichier_id=fichier_for(c, "certificat.pdf").id, product_label="P",
                          organisation_name="O", referentiel_label="R", status=status,
                          status_motive=None if status == "valide" else "Constat"))
    if case.prepare:
        case.prepare(c, w, status)
    db.flush()
    return c


def _snapshot(c) -> tuple:
    db.flush()
    db.expire_all()
    sections = db.execute(select(SectionReview.code, SectionReview.status, SectionReview.round)
                          .where(SectionReview.candidature_id == c.id)).all()
    counts = [db.scalar(select(func.count()).select_from(m)) for m in
              (AuditEvent, Message, ExigenceVerdict, Preuve, ZipPourAvis)]
    certificat = db.execute(select(Certificat.status, Certificat.status_motive)
                            .where(Certificat.candidature_id == c.id)).first()
    return (c.status, c.current_step, tuple((s.step, s.status) for s in c.steps),
            tuple(sections), tuple(certificat or ()), tuple(counts))


@pytest.mark.parametrize(("name", "status"), PAIRS)
def test_transition_from_status(world, name, status) -> None:
    info, case = TRANSITIONS[name], CASES[name]
    c = _build(case, info, status, world)
    before = _snapshot(c)
    audit_before = before[-1][0]
    if status in info.sources:
        db().info.pop(_PENDING, None)
        case.call(c, world, getattr(world, case.actor))
        db.flush()
        after = _snapshot(c)
        if info.kind == "section":
            new_status = _first_section(c).status
        elif info.kind == "candidature":
            new_status = c.status
        elif info.kind == "certificat":
            new_status = _certificat(c).status
        else:
            new_status = c.step(case.step).status
        assert new_status in info.targets
        new_actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc())
                                 .limit(after[-1][0] - audit_before)).all()
        assert info.audit.format(step=case.step) in new_actions
        pending = [args for fn, args in db().info.get(_PENDING, [])]
        notified = any(a and a[0] == "notifications.envoyer" for a in pending)
        assert (after[-1][1] > before[-1][1]) is case.posts, "automatic message"
        assert (info.event is not None) is case.posts, "the registry names its message"
        if case.posts:
            posted = db.scalars(select(Message.event).order_by(Message.id.desc())
                                .limit(after[-1][1] - before[-1][1])).all()
            resubmitted = name == "form.soumettre" and status == "complements_demandes"
            assert ("form.resoumise" if resubmitted else info.event) in posted
        assert notified is (case.posts and case.notifies), "notification queued"
    else:
        with pytest.raises(TransitionError):
            case.call(c, world, getattr(world, case.actor))
        assert _snapshot(c) == before


@pytest.mark.parametrize(("name", "status"), PAIRS)
def test_predicate_is_true_exactly_when_the_call_succeeds(world, name, status) -> None:
    """Every role against every status: a page shows the action (the predicate) exactly
    when clicking it would work (the transition's guard)."""
    info, case = TRANSITIONS[name], CASES[name]
    c = _build(case, info, status, world)
    seen = {}
    for role in ROLES:
        actor = getattr(world, role)
        savepoint = db().begin_nested()
        try:
            predicted = info.can(actor, c, *case.args(c))
            try:
                case.call(c, world, actor)
                db.flush()
                succeeded = True
            except TransitionError:
                succeeded = False
        finally:
            savepoint.rollback()
            db().info.pop(_PENDING, None)
        assert predicted is succeeded, f"{name} from {status} as {role}"
        seen[role] = succeeded
    # the nominal actor succeeds from a source status (the walk above is not all refusals)
    assert seen[case.actor] is (status in info.sources)


def test_every_transition_carries_its_names() -> None:
    """One name per transition: its predicate, audit code, message event and verb live in
    the registry, and the history finds the transition back from its audit code."""
    from backoffice.reviewer.history import transition_for, verb_of
    from backoffice.workflow.definitions import STEPS

    for name, info in TRANSITIONS.items():
        assert info.can is not None and info.fn is not None, name
        assert info.verb.startswith("a "), name  # « a validé… »: the history's sentence
        steps = [code for code, step in STEPS.items() if step.kind == info.kind] \
            if "{step}" in info.audit else [""]
        for step in steps:
            action = info.audit.format(step=step)
            assert transition_for(action) is info, action
            assert "{" not in verb_of(action) and "_" not in verb_of(action), action
