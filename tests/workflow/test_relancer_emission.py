"""« Relancer » an issuance (issue 17, item 8): after a failure, and also when it has been
« en cours » longer than ISSUANCE_RETRY_AFTER_MINUTES (its job lost with a queue or a
killed worker) — never for a fresh issuance, which is still in its queue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backoffice.db import db, utcnow
from backoffice.tasks import _PENDING
from backoffice.workflow import emission
from backoffice.workflow.base import TransitionError
from tests.factories import CandidatureFactory, UserFactory
from tests.helpers import login


@pytest.fixture
def en_cours(ctx, dmn_verif, product):
    dmn_verif.teams[0].parcours = "dmn"
    candidature = CandidatureFactory(product=product, organisation=product.organisation,
                                     demarche_code="dmn_nom_de_marque", at="certificat",
                                     status_at_step="emission_en_cours", deciders=[dmn_verif])
    db.flush()
    return candidature


def test_a_fresh_issuance_is_not_retried(en_cours, dmn_verif) -> None:
    en_cours.last_activity_at = utcnow() - timedelta(minutes=5)
    assert not emission.bloquee(en_cours)
    assert not emission.can_relancer(dmn_verif, en_cours)
    with pytest.raises(TransitionError) as refused:
        emission.relancer(en_cours, actor=dmn_verif)
    assert refused.value.code == "emission_recente"


def test_a_stuck_issuance_is_queued_again(app, en_cours, dmn_verif) -> None:
    app.config["ISSUANCE_RETRY_AFTER_MINUTES"] = 10
    try:
        en_cours.last_activity_at = utcnow() - timedelta(minutes=11)
        assert emission.bloquee(en_cours)
        assert emission.can_relancer(dmn_verif, en_cours)
        assert not emission.can_relancer(UserFactory(roles=["support"]), en_cours)
        db().info.pop(_PENDING, None)
        emission.relancer(en_cours, actor=dmn_verif)
        pending = [args for _, args in db().info.get(_PENDING, [])]
        assert ("certificats.emettre", en_cours.id) in pending
        assert not emission.bloquee(en_cours)  # the clock starts again
    finally:
        app.config.pop("ISSUANCE_RETRY_AFTER_MINUTES")


def test_the_dossier_offers_relancer_only_once_stuck(client, en_cours, dmn_verif) -> None:
    login(client, dmn_verif)
    en_cours.last_activity_at = utcnow() - timedelta(minutes=5)
    db.commit()
    page = client.get(f"/instruction/candidatures/{en_cours.reference}").get_data(as_text=True)
    assert "Émission en cours" in page and 'data-testid="emission-bloquee"' not in page
    en_cours.last_activity_at = utcnow() - timedelta(hours=1)
    db.commit()
    page = client.get(f"/instruction/candidatures/{en_cours.reference}").get_data(as_text=True)
    assert 'data-testid="emission-bloquee"' in page and "Relancer" in page
