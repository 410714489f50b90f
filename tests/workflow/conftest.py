"""Fixtures for the workflow's unit tests: the référentiels, the actors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Referentiel
from backoffice.workflow.base import Industriel
from tests.factories import OrganisationFactory, TeamFactory, UserFactory

REFERENTIEL = Path(__file__).resolve().parents[2] / "data" / "referentiel.json"


@pytest.fixture
def referentiels(ctx):
    """The V1 référentiels, loaded with the reference data once per session."""
    return [db.scalar(select(Referentiel).where(Referentiel.code == code,
                                                Referentiel.version == "V1"))
            for code in ("dmn", "sons_sas")]


@pytest.fixture
def dmn_verif(ctx):
    return UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="dmn")])


@pytest.fixture
def segur_verif(ctx):
    return UserFactory(roles=["verificateur"], teams=[TeamFactory(parcours="segur")])


@pytest.fixture
def college_member(ctx):
    return UserFactory(roles=["college"])


@pytest.fixture
def organisation(ctx):
    return OrganisationFactory()


@pytest.fixture
def industriel(organisation):
    return Industriel(organisation)


@pytest.fixture
def driver(referentiels, industriel, dmn_verif, college_member):
    from backoffice.workflow.scenarios import Driver
    from tests.factories import fichier_for

    return Driver(industriel, dmn_verif, college_member, fichier_for)


@pytest.fixture
def segur_driver(referentiels, industriel, segur_verif, college_member):
    from backoffice.workflow.scenarios import Driver
    from tests.factories import fichier_for

    return Driver(industriel, segur_verif, college_member, fichier_for)


@pytest.fixture
def product(organisation):
    from tests.factories import ProductFactory

    return ProductFactory(organisation=organisation)
