"""factory_boy factories with readable traits:
CandidatureFactory(demarche_code="sons_sas", at="eligibilite", status_at_step="en_instruction")."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from itertools import count

import factory
from factory.alchemy import SQLAlchemyModelFactory

from backoffice.auth.passwords import hash_password
from backoffice.auth.totp import begin_enrolment
from backoffice.db import db, utcnow
from backoffice.models import Candidature, Demarche, Fichier, Organisation, Product, Team, User
from backoffice.seed import place_at_step

PASSWORD = "mot-de-passe-de-test"
_numbers = count(10_000)


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db()  # noqa: E731
        sqlalchemy_session_persistence = "flush"

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        """Post-generation hooks (roles, teams) change the object after its flush."""
        if create:
            db.flush()


class TeamFactory(Base):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Équipe {n}")
    parcours = "dmn"


class UserFactory(Base):
    class Meta:
        model = User
        exclude = ("password",)

    password = PASSWORD
    email = factory.Sequence(lambda n: f"agent{n}@ans.test.fr")
    name = factory.Sequence(lambda n: f"Agent {n}")
    password_hash = factory.LazyAttribute(lambda o: hash_password(o.password))
    active = True

    @factory.post_generation
    def roles(obj: User, create: bool, extracted: list[str] | None, **kw: object) -> None:
        obj.roles = set(extracted if extracted is not None else ["verificateur"])

    @factory.post_generation
    def teams(obj: User, create: bool, extracted: list[Team] | None, **kw: object) -> None:
        if extracted:
            obj.teams = list(extracted)

    @factory.post_generation
    def totp(obj: User, create: bool, extracted: bool | None, **kw: object) -> None:
        """Enrolled in the second factor unless totp=False; the clear key is kept on the
        object for tests.helpers.login."""
        if extracted is False:
            return
        obj.totp_plain_secret = begin_enrolment(obj)
        obj.totp_enabled_at = utcnow()


class OrganisationFactory(Base):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Éditeur {n}")
    siret = factory.Sequence(lambda n: f"{n:014d}")


class ProductFactory(Base):
    class Meta:
        model = Product

    organisation = factory.SubFactory(OrganisationFactory)
    number = factory.LazyFunction(lambda: next(_numbers))
    name = "Careoptim"
    version = "v0.1"
    type = "socle"
    responsable = "Jeanne Martin"
    description = "Logiciel de télésurveillance"
    certifications = factory.LazyFunction(lambda: ["ISO 27001"])
    qualification = factory.LazyFunction(dict)


class CandidatureFactory(Base):
    """`at` and `status_at_step` place the candidature at a step (earlier steps passed,
    decided by `deciders`), through the demo's `seed.place_at_step`."""

    class Meta:
        model = Candidature

    # Not columns: _create pops them and places the candidature.
    at = None
    status_at_step = "soumise"
    deciders = None

    product = factory.SubFactory(ProductFactory)
    organisation = factory.SelfAttribute("product.organisation")
    demarche = factory.LazyAttribute(lambda o: db.get(Demarche, o.demarche_code))
    demarche_code = "dmn_nom_de_marque"
    created_at = factory.LazyFunction(lambda: utcnow() - timedelta(days=10))
    current_step = factory.LazyAttribute(lambda o: o.at or o.demarche.steps[0])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        at = kwargs.pop("at", None)
        status = kwargs.pop("status_at_step", "soumise")
        deciders = kwargs.pop("deciders", None)
        candidature = model_class(*args, **kwargs)
        place_at_step(
            candidature, at or candidature.demarche.steps[0], status,
            deciders=deciders or [UserFactory()], rng=random.Random(1),
        )
        db.add(candidature)
        db.flush()
        return candidature


class FichierFactory(Base):
    """File metadata without bytes, for workflow unit tests (storage has its own)."""

    class Meta:
        model = Fichier

    storage_key = factory.LazyFunction(lambda: uuid.uuid4().hex)
    original_name = "preuve.pdf"
    size = 1024
    sha256 = "0" * 64
    kind = "pdf"
    content_type = "application/pdf"


def fichier_for(candidature: Candidature, name: str) -> Fichier:
    return FichierFactory(candidature_id=candidature.id, original_name=name)
