"""Fixtures for the vérificateur workspace: a DMN team (me and a colleague), a Ségur
vérificateur, candidatures driven through the workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from backoffice.db import db
from backoffice.tokens import new_api_token
from backoffice.workflow.base import Industriel
from backoffice.workflow.scenarios import Driver
from tests.api.conftest import Api
from tests.factories import (
    OrganisationFactory,
    ProductFactory,
    TeamFactory,
    UserFactory,
    fichier_for,
)
from tests.helpers import login_as


@dataclass
class Desk:
    me: Any
    colleague: Any
    segur: Any
    organisation: Any
    industriel: Industriel
    api: Api
    client: Any

    def driver(self, verificateur: Any = None) -> Driver:
        return Driver(self.industriel, verificateur or self.me, None, fichier_for)

    def candidature(self, demarche: str = "dmn_nom_de_marque", until: str = "recevabilite",
                    submit: bool = True, product: Any = None) -> Any:
        """A candidature driven by the workflow up to `until` (its form submitted)."""
        driver = self.driver(self.segur if demarche == "sons_sas" else self.me)
        candidature = driver.open(product or ProductFactory(organisation=self.organisation),
                                  demarche)
        driver.drive(candidature, until)
        if submit and until in ("recevabilite", "depot", "eligibilite"):
            driver.fill(candidature, until)
            driver.submit(candidature, until)
        db.commit()
        return candidature


@pytest.fixture
def desk(client, ctx) -> Desk:
    dmn = TeamFactory(name="Équipe DMN", parcours="dmn")
    organisation = OrganisationFactory(name="Careoptim")
    token, raw = new_api_token(organisation, "portail")
    db.add(token)
    desk = Desk(
        me=UserFactory(name="Victor Vérificateur", roles=["verificateur"], teams=[dmn]),
        colleague=UserFactory(name="Damien Martin", roles=["verificateur"], teams=[dmn]),
        segur=UserFactory(name="Véra Ségur", roles=["verificateur"],
                          teams=[TeamFactory(name="Équipe Ségur", parcours="segur")]),
        organisation=organisation, industriel=Industriel(organisation),
        api=Api(client, raw), client=client,
    )
    db.commit()
    login_as(client, desk.me)
    return desk
