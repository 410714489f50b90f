"""Each workspace endpoint's refusals: anonymous -> login, other roles -> 403, POST
without CSRF token -> 400 (the object need not exist: these checks come first)."""

from __future__ import annotations

from tests.helpers import GetEndpointChecks, PostEndpointChecks

REF = "/instruction/candidatures/ABCDEFGHI"
V = ("verificateur",)


class TestQueue(GetEndpointChecks):
    path, allowed_roles = "/instruction/file", V


class TestQueueCsv(GetEndpointChecks):
    path, allowed_roles = "/instruction/file.csv", V


class TestPrendre(PostEndpointChecks):
    path, allowed_roles = f"{REF}/prendre", V


class TestLiberer(PostEndpointChecks):
    path, allowed_roles = f"{REF}/liberer", V


class TestConfier(PostEndpointChecks):
    path, allowed_roles, form = f"{REF}/confier", V, {"user_id": "1"}


class TestBulk(PostEndpointChecks):
    path, allowed_roles, form = "/instruction/attribuer", V, {"references": "ABCDEFGHI"}


class TestValider(PostEndpointChecks):
    path, allowed_roles = f"{REF}/recevabilite/valider", V


class TestComplements(PostEndpointChecks):
    path, allowed_roles, form = f"{REF}/recevabilite/demander-complements", V, {"message": "x"}


class TestRejeter(PostEndpointChecks):
    path, allowed_roles, form = f"{REF}/recevabilite/rejeter", V, {"motif": "x"}


class TestConventionEnvoyer(PostEndpointChecks):
    path, allowed_roles = f"{REF}/convention/envoyer", V


class TestConventionSignature(PostEndpointChecks):
    path, allowed_roles = f"{REF}/convention/signature", V


class TestConventionValider(PostEndpointChecks):
    path, allowed_roles = f"{REF}/convention/valider", V


class TestMessages(PostEndpointChecks):
    path, allowed_roles, form = f"{REF}/messages", V, {"body": "x"}


class TestSectionQueue(GetEndpointChecks):
    path, allowed_roles = "/instruction/sections", V


class TestSectionStart(PostEndpointChecks):
    path, allowed_roles = f"{REF}/sections/INS/commencer", V


class TestSectionVerdict(PostEndpointChecks):
    path, allowed_roles, form = f"{REF}/sections/INS/exigences/INS 1.1/verdict", V, {
        "verdict": "conforme"}


class TestSectionValidate(PostEndpointChecks):
    path, allowed_roles = f"{REF}/sections/INS/valider", V


class TestSectionModifications(PostEndpointChecks):
    path, allowed_roles, form = f"{REF}/sections/INS/demander-modifications", V, {"message": "x"}


class TestPourAvis(PostEndpointChecks):
    path, allowed_roles, form = f"{REF}/pour-avis/avis", V, {"message": "x"}


class TestRelancerEmission(PostEndpointChecks):
    path, allowed_roles = f"{REF}/emission/relancer", V


class TestSectionVerdicts(PostEndpointChecks):
    path, allowed_roles, form = f"{REF}/sections/INS/verdicts", V, {"tout_conforme": "1"}
