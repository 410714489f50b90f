"""Demo data: one account per role, teams, organisations and products in the guide's
style, an open campaign window per démarche, candidatures spread over the démarches and
their steps. The démarches, delays, pièces, référentiels and message wording are
reference data (backoffice/reference, loaded by init-db), not demo data.

The open candidatures are placed at their step directly (`place_at_step`), with
consistent dates and deciders; vendors' messages and self-assessments are added; the
issuances they need are kept and run (no certificate stuck « Émission en cours »).
With `--historique N`, N more candidatures go the whole way through the workflow itself
(`build_history`, simulated clock), with past séances, so that /statistiques has months
of figures.
"""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select

from backoffice import audit, reference
from backoffice.auth import totp
from backoffice.auth.passwords import hash_password
from backoffice.db import db, utcnow
from backoffice.models import (
    CampaignWindow,
    Candidature,
    CandidatureStep,
    Demarche,
    Organisation,
    Product,
    Team,
    User,
)
from backoffice.tokens import new_api_token
from backoffice.workflow.definitions import DECIDED_STATUSES, DEMARCHES, STEPS, StepKind

PARIS = ZoneInfo("Europe/Paris")
DEMO_DOMAIN = "demo.convergence.fr"

# Statuses a candidature can sit in while its current step is open, by kind of step.
OPEN_STATUSES: dict[StepKind, tuple[str, ...]] = {
    StepKind.form: ("soumise", "soumise", "en_instruction", "complements_demandes"),
    StepKind.convention: ("a_envoyer", "envoyee", "signee"),
    StepKind.preuves: ("en_cours",),
    StepKind.preuves_pour_avis: ("en_attente_depot", "deposees"),
    StepKind.college: ("a_programmer", "inscrite"),
    StepKind.emission: ("emission_en_cours",),
}
# Status of a step once passed.
PASSED: dict[StepKind, str] = {
    StepKind.form: "validee",
    StepKind.convention: "validee",
    StepKind.preuves: "validee",
    StepKind.preuves_pour_avis: "avis_rendu",
    StepKind.college: "favorable",
    StepKind.emission: "emis",
}


def open_windows(open_for_days: int = 120) -> None:
    """A campaign window open now for each démarche that has none (demo and tests; in
    production an administrator opens them)."""
    now = utcnow()
    for demarche in db.scalars(select(Demarche).order_by(Demarche.code)):
        if demarche.windows:
            continue
        closes = (now + timedelta(days=open_for_days)).astimezone(PARIS).replace(
            hour=14, minute=0, second=0, microsecond=0
        )
        db.add(CampaignWindow(
            demarche=demarche,
            label=f"Campagne {now.year} — {demarche.label}",
            opens_at=now - timedelta(days=180),
            closes_at=closes,
        ))
    db.flush()


def ensure_demarches(open_for_days: int = 120) -> list[Demarche | None]:
    """The reference data (backoffice/reference) and a campaign window open now for each
    démarche. Kept for the tests and benchmarks written before backoffice/reference."""
    reference.load()
    open_windows(open_for_days)
    return [db.get(Demarche, code) for code in DEMARCHES]


def ensure_delay_rules() -> None:
    """The delays are reference data now (data/demarches.json); kept for older callers."""
    reference.load()


def place_at_step(
    candidature: Candidature,
    step_code: str,
    status: str,
    *,
    deciders: list[User],
    assignee: User | None = None,
    at: datetime | None = None,
    rng: random.Random | None = None,
) -> None:
    """Build the candidature's step rows: earlier steps passed, `step_code` in `status`,
    later steps to come."""
    rng = rng or random.Random()  # noqa: S311  # nosec B311
    at = at or utcnow()
    steps = candidature.demarche.steps
    if step_code not in steps:
        raise ValueError(f"{candidature.demarche_code} has no step {step_code}")
    current_index = steps.index(step_code)
    clock = candidature.created_at
    candidature.steps = []
    for position, code in enumerate(steps):
        kind = STEPS[code].kind
        row = CandidatureStep(step=code, position=position, status="a_venir")
        if position < current_index:
            row.opened_at = clock
            row.submitted_at = clock + timedelta(hours=rng.randint(1, 48))
            clock = min(row.submitted_at + timedelta(days=rng.randint(2, 20)), at)
            row.status = PASSED[kind]
            row.decided_at = clock
            row.decided_by = rng.choice(deciders)
            row.informative = (
                candidature.demarche_code == "dmn_ligne_generique"
                and candidature.demarche.phase_transitoire
                and code == "recevabilite"
            )
        elif position == current_index:
            row.opened_at = clock
            row.status = status
            if status not in ("brouillon", "a_envoyer", "en_attente_depot"):
                row.submitted_at = min(clock + timedelta(hours=rng.randint(1, 48)), at)
            if status in ("en_instruction", "complements_demandes", "inscrite"):
                row.assignee = assignee or rng.choice(deciders)
            if row.submitted_at is not None and status not in DECIDED_STATUSES:
                row.due_at = row.submitted_at + timedelta(days=60)
            if status == "complements_demandes" and row.submitted_at is not None:
                # the vendor has the file: its clock is paused with what was left
                # (workflow/delays.py), not running towards a due date it cannot meet
                submitted: datetime = row.submitted_at
                paused = min(submitted + timedelta(days=rng.randint(1, 10)), at)
                row.remaining_days = 60 - (paused - submitted).total_seconds() / 86400
                row.paused_at, row.due_at = paused, None
            if status in DECIDED_STATUSES:
                row.decided_at, row.decided_by = at, rng.choice(deciders)
        candidature.steps.append(row)
    candidature.current_step = step_code
    candidature.submitted_at = candidature.steps[0].submitted_at
    candidature.last_activity_at = max(
        [s.decided_at or s.submitted_at or s.opened_at for s in candidature.steps
         if s.opened_at] + [candidature.created_at]
    )


ORGANISATIONS = [
    ("Careoptim", "Careoptim", "12345678900011"),
    ("Edicare Solutions", "Edicore", "23456789100022"),
    ("Médiconnect", "MédiSuivi", "34567891200033"),
    ("Télésoin Plus", "TéléCœur", "45678912300044"),
    ("Ortho Numérique", "OrthoTrack", "56789123400055"),
    ("Agenda Santé", "RDV Soins", "67891234500066"),
]


REFERENTIEL_JSON = reference.DATA_DIR / "referentiel.json"

# Where the demo candidatures stop: (démarche, step reached, what happens there).
TARGETS: list[tuple[str, str, str]] = [
    ("dmn_nom_de_marque", "recevabilite", "soumise"),
    ("sons_sas", "depot", "soumise"),
    ("dmn_pecan", "recevabilite", "en_instruction"),
    ("dmn_ligne_generique", "recevabilite", "soumise"),
    ("dmn_pect", "recevabilite", "complements_demandes"),
    ("sons_sas", "eligibilite", "soumise"),
    ("dmn_nom_de_marque", "convention", "a_envoyer"),
    ("dmn_ligne_generique", "preuves_pour_avis", "deposees"),
    ("sons_sas", "convention", "envoyee"),
    ("dmn_pecan", "preuves", "sections_soumises"),
    ("dmn_nom_de_marque", "preuves", "modifications"),
    ("sons_sas", "preuves", "sections_soumises"),
    ("dmn_pect", "college", "a_programmer"),
    ("dmn_ligne_generique", "preuves_pour_avis", "en_attente_depot"),
    ("sons_sas", "depot", "complements_demandes"),
    ("dmn_nom_de_marque", "recevabilite", "brouillon"),
    ("dmn_pecan", "convention", "signee"),
    ("sons_sas", "referencement", "emission_en_cours"),
    ("dmn_nom_de_marque", "certificat", "emission_en_cours"),
    ("dmn_pect", "recevabilite", "rejetee"),
    ("sons_sas", "eligibilite", "en_instruction"),
    ("dmn_pecan", "college", "inscrite"),
    ("dmn_ligne_generique", "preuves_pour_avis", "avis_rendu"),
    ("dmn_nom_de_marque", "preuves", "en_revue"),
    ("dmn_pecan", "preuves", "tour_2"),
    ("sons_sas", "preuves", "tour_2"),
    ("dmn_nom_de_marque", "college", "a_programmer"),
]


def build_candidatures(count: int, products: list[Product], users: dict[str, User],
                       colleagues: list[User]) -> list[Candidature]:
    """`count` candidatures, cycling through TARGETS, each driven there by the workflow on
    a simulated clock started weeks ago (so that delays run out as they would)."""
    from backoffice.db import simulated_clock

    built = []
    rng = random.Random(7)  # noqa: S311  # nosec B311
    for i in range(count):
        with simulated_clock(utcnow() - timedelta(days=rng.randint(20, 140))) as clock:
            built.append(_build_one(i, products, users, colleagues, clock, rng))
    return built


def _build_one(i, products, users, colleagues, clock, rng):
    """Drive demo candidature number i to its target, on a simulated clock."""
    from backoffice.demo_files import demo_file
    from backoffice.workflow import avis, college, forms, preuves
    from backoffice.workflow.base import Industriel
    from backoffice.workflow.scenarios import Driver

    code, step, what = TARGETS[i % len(TARGETS)]
    product = products[i % len(products)]
    parcours = DEMARCHES[code].parcours.value
    reviewers = ([users["verificateur"], colleagues[0]] if parcours == "dmn"
                 else [users["verificatrice.segur"], colleagues[1]])
    driver = Driver(Industriel(product.organisation), reviewers[i % 2], users["college"],
                    demo_file,
                    tick=lambda: clock.advance(days=rng.randint(1, 9), hours=rng.randint(0, 8)))
    candidature = driver.open(product, code)
    driver.drive(candidature, step, complements=(i % 3 == 0))
    if step in ("recevabilite", "depot", "eligibilite"):
        if what != "brouillon":
            driver.fill(candidature, step)
            driver.submit(candidature, step)
        if what in ("en_instruction", "complements_demandes", "rejetee"):
            driver.take(candidature, step)
        if what == "complements_demandes":
            forms.demander_complements(candidature, step, actor=driver.verificateur,
                                       message="La lettre d'engagement n'est pas signée.")
        elif what == "rejetee":
            forms.rejeter(candidature, step, actor=driver.verificateur,
                          motif="Le dispositif ne relève pas du champ de la démarche.")
    elif step == "convention" and what in ("envoyee", "signee"):
        from backoffice.workflow import convention
        from backoffice.workflow.base import SYSTEME

        convention.envoyer(candidature, actor=driver.verificateur,
                           signature_request_id=f"sr-demo-{candidature.reference.lower()}")
        if what == "signee":
            convention.marquer_signee(candidature, actor=SYSTEME)
    elif step == "preuves":
        sections = driver.sections(candidature)
        for section in sections:
            driver.file_section(candidature, section)
        if what == "modifications":
            driver.review_section(candidature, sections[0],
                                  non_conforme=sections[0].exigences[0].code)
        elif what == "en_revue":
            preuves.commencer_revue(candidature, sections[0].code,
                                    actor=driver.verificateur)
        elif what == "tour_2":  # a section back for its second round
            first = sections[0]
            driver.review_section(candidature, first, non_conforme=first.exigences[0].code)
            driver._tick()
            old = preuves.active_preuves(first.exigences[0])[0]
            preuves.archiver_preuve(candidature, old, actor=driver.industriel)
            preuves.deposer_preuve(candidature, first.code, first.exigences[0].code,
                                   actor=driver.industriel,
                                   fichier=demo_file(candidature, "preuve_corrigee.pdf"))
            preuves.soumettre_section(candidature, first.code, actor=driver.industriel)
    elif step == "preuves_pour_avis" and what != "en_attente_depot":
        from backoffice.uploads import zip_summary

        fichier = demo_file(candidature, "preuves_INS.zip")
        avis.deposer_zip(candidature, actor=driver.industriel, fichier=fichier,
                         report=zip_summary(fichier))
        if what == "avis_rendu":
            avis.rendre_avis(candidature, actor=driver.verificateur,
                             par_exigence={}, message="Avis informatif : dossier complet.")
    elif step == "college" and what == "inscrite":
        college.inscrire(candidature, actor=users["college"])
    if what != "brouillon" and i % 2 == 0:
        driver._tick()
        _vendor_message(candidature, driver.industriel, i)
    driver._tick()
    db.flush()
    return candidature


VENDOR_MESSAGES = [
    ("Question sur la suite", "Bonjour, pouvez-vous nous indiquer le délai prévisible de "
     "traitement de notre dossier ? Bien cordialement."),
    ("Documentation mise à jour", "Bonjour, nous avons publié une nouvelle version de la "
     "documentation fonctionnelle ; elle sera jointe à notre prochain dépôt. Cordialement."),
    ("Interlocuteur technique", "Bonjour, notre responsable technique, M. Bernard, se tient "
     "à votre disposition pour toute question sur les preuves. Bien à vous."),
]


def _vendor_message(candidature: Candidature, industriel, i: int) -> None:
    """A message written by the vendor through the portal (as POST …/messages does)."""
    from backoffice.models import Message

    subject, body = VENDOR_MESSAGES[i % len(VENDOR_MESSAGES)]
    message = Message(candidature_id=candidature.id, author_kind="industriel", kind="message",
                      subject=subject, body=body, created_at=utcnow())
    db.add(message)
    candidature.last_activity_at = utcnow()
    db.flush()
    audit.record(industriel, "messagerie.message_industriel", message, candidature=candidature,
                 after={"attachments": 0})


def _evaluations(products: list[Product], rng: random.Random) -> None:
    """Self-assessment results received from the portal (the guide's « Évaluation Sécurité
    2021 — 34/36 »), one product in three left without any."""
    from backoffice.models import ProductEvaluation

    for n, product in enumerate(products):
        if n % 3 == 2:
            continue
        score = rng.randint(28, 36)
        db.add(ProductEvaluation(
            product_id=product.id, questionnaire="securite-2021", answered=36, total=36,
            score=score, level="Atteint pour Ségur du Numérique en Santé SAS" if score >= 32
            else "Non atteint",
            criteria={f"C{k:02d}": rng.choice(["atteint", "atteint", "partiel"])
                      for k in range(1, 7)}))
    db.flush()


# The jobs the demo's own states need: the issuances of the candidatures placed at their
# last step (the demo shows certificates, none stuck « Émission en cours »).
KEPT_JOBS = {"certificats.emettre"}


def _drop_news(outbox_before: int) -> None:
    """The demo's history is not news: its automatic messages are not e-mailed. The jobs
    of KEPT_JOBS stay, and run once the seed commits (in-process in the embedded mode,
    pushed to Redis otherwise)."""
    from backoffice.models import JobOutbox
    from backoffice.tasks import _PENDING, enqueue, push_outbox

    kept_rows = set(db.scalars(select(JobOutbox.id).where(
        JobOutbox.id > outbox_before, JobOutbox.job_name.in_(sorted(KEPT_JOBS)))))
    pending = db().info.pop(_PENDING, [])
    keep = [(fn, args) for fn, args in pending
            if (fn is enqueue and args and args[0] in KEPT_JOBS)
            or (fn is push_outbox and args and args[0] in kept_rows)]
    if keep:
        db().info[_PENDING] = keep
    db.execute(delete(JobOutbox).where(JobOutbox.id > outbox_before,
                                       JobOutbox.id.not_in(sorted(kept_rows) or [0])))


HISTORY_DEMARCHES = ("dmn_nom_de_marque", "dmn_pecan", "dmn_pect", "sons_sas")


def build_history(count: int, products: list[Product], users: dict[str, User],
                  colleagues: list[User]) -> None:
    """`count` candidatures that went the whole way over the last months (certified,
    référencées, rejected, some after compléments or modifications), with the collège's
    past séances: what makes /statistiques worth a look in the demo."""
    from backoffice.certificates import issue
    from backoffice.db import simulated_clock
    from backoffice.demo_files import demo_file
    from backoffice.workflow import emission, forms, seances
    from backoffice.workflow.base import SYSTEME, Industriel
    from backoffice.workflow.scenarios import Driver

    rng = random.Random(11)  # noqa: S311  # nosec B311
    president = users["college"]
    by_month: dict[str, Any] = {}
    for i in range(count):
        code = HISTORY_DEMARCHES[i % len(HISTORY_DEMARCHES)]
        product = products[rng.randrange(len(products))]
        segur = code == "sons_sas"
        reviewers = ([users["verificatrice.segur"], colleagues[1]] if segur
                     else [users["verificateur"], colleagues[0]])
        with simulated_clock(utcnow() - timedelta(days=rng.randint(60, 170))) as clock:
            driver = Driver(Industriel(product.organisation), reviewers[i % 2], president,
                            demo_file, tick=lambda: clock.advance(
                                days=rng.randint(1, 6) + (25 if rng.random() < 0.08 else 0),
                                hours=rng.randint(0, 20)))
            candidature = driver.open(product, code)
            first = candidature.demarche.steps[0]
            if i % 6 == 5:  # not recevable / not complete
                driver.fill(candidature, first)
                driver.submit(candidature, first)
                driver.take(candidature, first)
                clock.advance(days=rng.randint(3, 25))
                forms.rejeter(candidature, first, actor=driver.verificateur,
                              motif="Le dispositif ne relève pas du champ de la démarche.")
                continue
            last = candidature.demarche.steps[-1]
            driver.drive(candidature, "college" if not segur else last,
                         complements=i % 3 == 0, modifications=i % 2 == 0)
            if not segur:
                month = clock.current.strftime("%Y-%m")
                seance = by_month.get(month)
                if seance is None:
                    # the month's séance starts on its first morning: every dossier of the
                    # month is voted on at least two days after its inscription, after the
                    # start (votes before a séance's start are refused)
                    seance = by_month[month] = seances.creer(
                        actor=president, date=clock.current.replace(
                            day=1, hour=8, minute=0, second=0, microsecond=0),
                        label=f"Séance du collège — {clock.current.strftime('%m/%Y')}",
                        members=[president], president=president, quorum=1)
                item = seances.inscrire(seance, candidature, actor=president)
                clock.advance(days=rng.randint(2, 12))
                favorable = i % 5 != 3
                seances.voter(item, actor=president,
                              vote="favorable" if favorable else "defavorable")
                seances.decider(item, actor=president,
                                decision="favorable" if favorable else "defavorable",
                                motive=None if favorable else "Preuves insuffisantes.")
                if not favorable:
                    continue
            clock.advance(days=1)
            cert = issue(candidature, candidature.current_step)
            emission.emission_reussie(candidature, actor=SYSTEME, numero=cert.number,
                                      document=cert.fichier)
        db.flush()


def _seance(president: User) -> None:
    """A séance to come, with the first DMN dossier à programmer on its agenda."""
    from backoffice.models import CandidatureStep
    from backoffice.workflow import seances

    seance = seances.creer(actor=president, date=utcnow() + timedelta(days=7),
                           label="Séance du collège — démonstration", members=[president],
                           president=president, quorum=1)
    waiting = db.scalar(select(Candidature).join(CandidatureStep).where(
        CandidatureStep.step == "college", CandidatureStep.status == "a_programmer",
        Candidature.current_step == "college").limit(1))
    if waiting is not None:
        seances.inscrire(seance, waiting, actor=president)


def seed(candidatures: int = 48, rng_seed: int = 2026, history: int = 0) -> dict[str, Any]:
    """Load the demo data; return the generated credentials (never stored elsewhere)."""
    rng = random.Random(rng_seed)  # noqa: S311  # nosec B311
    from backoffice.signing import ensure_demo_material

    ensure_demo_material()  # demo CA and signing certificate, never committed
    from backoffice.models import JobOutbox

    outbox_before = db.scalar(select(func.max(JobOutbox.id))) or 0
    if db.get(Demarche, "sons_sas") is None:
        raise reference.ReferenceDataError(
            "Les données de référence ne sont pas chargées : lancez d'abord `make db` "
            "(flask --app backoffice init-db).")
    open_windows()

    dmn = Team(name="Équipe DMN", parcours="dmn")
    segur = Team(name="Équipe Ségur", parcours="segur")
    db.add_all([dmn, segur])

    people = [
        ("admin", "Alice Administratrice", ["admin"], []),
        ("verificateur", "Victor Vérificateur", ["verificateur"], [dmn]),
        ("verificatrice.segur", "Véra Ségur", ["verificateur"], [segur]),
        ("college", "Claire Collège", ["college"], []),
        ("support", "Samuel Support", ["support"], []),
    ]
    accounts = []
    users: dict[str, User] = {}
    for login, name, roles, teams in people:
        password = secrets.token_urlsafe(12)
        user = User(
            email=f"{login}@{DEMO_DOMAIN}", name=name,
            password_hash=hash_password(password), teams=teams,
        )
        user.roles = set(roles)
        user.secretaire = "college" in roles  # the demo collège member prepares séances
        # demo accounts come enrolled: their TOTP key is printed with the password
        secret = totp.begin_enrolment(user)
        user.totp_enabled_at = utcnow()
        db.add(user)
        users[login] = user
        accounts.append({"role": roles[0], "email": user.email, "password": password,
                         "name": name, "totp_secret": secret})
    # Colleagues, so that queues have other assignees (no password printed: not for login).
    colleagues = []
    for login, name, team in (("dmn.2", "Damien Martin", dmn), ("segur.2", "Sonia Leroy", segur)):
        user = User(email=f"{login}@{DEMO_DOMAIN}", name=name, teams=[team],
                    password_hash=hash_password(secrets.token_urlsafe(24)))
        user.roles = {"verificateur"}
        db.add(user)
        colleagues.append(user)

    organisations = []
    next_number = (db.scalar(select(func.max(Product.number))) or 882) + 1
    products: list[Product] = []
    for org_name, product_name, siret in ORGANISATIONS:
        org = Organisation(name=org_name, siret=siret,
                           contact_email=f"contact@{org_name.split()[0].lower()}.example.fr")
        db.add(org)
        organisations.append(org)
        for version in ("v0.1", "v2.3"):
            products.append(Product(
                organisation=org, number=next_number, name=product_name, version=version,
                type=rng.choice(["socle", "option"]), nil=f"NIL-{next_number:05d}",
                responsable=f"Responsable {product_name}",
                description=f"{product_name} : logiciel de suivi des patients.",
                certifications=["ISO 27001", "HDS"] if next_number % 2 else ["ISO 13485"],
                qualification={
                    "dispositif_medical": rng.choice(["oui", "non"]),
                    "usage_professionnel": "oui",
                    "hebergement_hds": rng.choice(["oui", "non"]),
                    "interfacage_dmp": rng.choice(["oui", "non"]),
                    "mobile": rng.choice(["oui", "non"]),
                },
            ))
            next_number += 1
    db.add_all(products)
    token, raw_token = new_api_token(organisations[0], "Portail Convergence (démo)")
    db.add(token)
    db.flush()

    _evaluations(products, rng)
    build_candidatures(candidatures, products, users, colleagues)
    build_history(history, products, users, colleagues)
    _seance(users["college"])
    _drop_news(outbox_before)
    db.flush()
    audit.record("seed-demo", "demo.chargee", "base", after={"candidatures": candidatures})
    from backoffice.statistics.aggregate import rafraichir

    rafraichir(complet=True)  # the demo's /statistiques has figures at once
    return {
        "accounts": accounts,
        "api_token": {"organisation": organisations[0].name, "token": raw_token},
    }
