"""Driving a candidature through the real transitions: the demo seed and the tests use it
so that every state they build has a real audit trail and thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from backoffice.db import db
from backoffice.models import Candidature, Fichier, PieceType, Product, SectionReview, User
from backoffice.workflow import avis, college, convention, forms, preuves
from backoffice.workflow.base import Industriel
from backoffice.workflow.candidatures import ouvrir
from backoffice.workflow.definitions import STEPS, StepKind

FileFactory = Callable[[Candidature, str], Fichier]

FORM_DATA: dict[str, Any] = {
    "responsable_legal": {"nom": "Martin", "prenom": "Jeanne", "fonction": "Présidente"},
    "contact": {"nom": "Durand", "prenom": "Paul", "email": "contact@editeur.example.fr",
                "telephone": "0102030405"},
    "entreprise": {"raison_sociale": "Éditeur", "siret": "12345678900011"},
    "produit": {"nom": "Careoptim", "version": "v0.1"},
    "profils": ["GEN", "INS"],
    "composants": [],
    "consentement_email": True,
}


@dataclass
class Driver:
    industriel: Industriel
    verificateur: User
    college_member: User | None
    file_factory: FileFactory
    profils: list[str] | None = None  # DMN profils chosen at recevabilité
    tick: Callable[[], None] | None = None  # moves a simulated clock between actions

    def _tick(self) -> None:
        if self.tick is not None:
            self.tick()

    def open(self, product: Product, demarche_code: str) -> Candidature:
        return ouvrir(product, demarche_code, actor=self.industriel)

    def fill(self, candidature: Candidature, step: str) -> None:
        self._tick()
        data = dict(FORM_DATA)
        # the form names the candidature's own vendor and product, as the portal fills it
        organisation, product = candidature.organisation, candidature.product
        data["entreprise"] = {"raison_sociale": organisation.name,
                              "siret": organisation.siret or FORM_DATA["entreprise"]["siret"]}
        data["produit"] = {"nom": product.name, "version": product.version}
        if organisation.contact_email:
            data["contact"] = {**FORM_DATA["contact"], "email": organisation.contact_email}
        if candidature.demarche_code == "sons_sas":
            data["profils"] = ["GENERAL"]
        elif self.profils:
            data["profils"] = list(self.profils)
        forms.enregistrer_formulaire(candidature, step, data, actor=self.industriel)
        required = db.scalars(select(PieceType).where(
            PieceType.parcours == candidature.demarche.parcours, PieceType.step == step,
            PieceType.required.is_(True))).all()
        for piece in required:
            fichier = self.file_factory(candidature, f"{piece.code}.pdf")
            forms.ajouter_piece(candidature, step, piece.code, fichier, actor=self.industriel)

    def submit(self, candidature: Candidature, step: str) -> None:
        self._tick()
        forms.soumettre(candidature, step, actor=self.industriel)

    def take(self, candidature: Candidature, step: str) -> None:
        self._tick()
        forms.prendre(candidature, step, actor=self.verificateur)

    def pass_form(self, candidature: Candidature, step: str, *, complements: bool = False) -> None:
        self.fill(candidature, step)
        self.submit(candidature, step)
        self.take(candidature, step)
        if complements:
            forms.demander_complements(candidature, step, actor=self.verificateur,
                                       message="Merci de fournir une version signée de la "
                                               "documentation fonctionnelle.")
            self.submit(candidature, step)
            self.take(candidature, step)
        self._tick()
        forms.valider(candidature, step, actor=self.verificateur)

    def pass_convention(self, candidature: Candidature) -> None:
        self._tick()
        from backoffice.workflow.base import SYSTEME

        convention.envoyer(candidature, actor=self.verificateur,
                           signature_request_id=f"sr-{candidature.reference.lower()}")
        self._tick()
        convention.marquer_signee(candidature, actor=SYSTEME)
        self._tick()
        convention.valider(candidature, actor=self.verificateur)

    def sections(self, candidature: Candidature) -> list[SectionReview]:
        return list(db.scalars(select(SectionReview).where(
            SectionReview.candidature_id == candidature.id).order_by(SectionReview.position)))

    def file_section(self, candidature: Candidature, section: SectionReview) -> None:
        self._tick()
        for exigence in section.exigences:
            fichier = self.file_factory(candidature, f"{exigence.code.replace(' ', '_')}.pdf")
            preuves.deposer_preuve(candidature, section.code, exigence.code,
                                   actor=self.industriel, fichier=fichier)
        preuves.soumettre_section(candidature, section.code, actor=self.industriel)

    def review_section(self, candidature: Candidature, section: SectionReview, *,
                       non_conforme: str | None = None) -> None:
        preuves.commencer_revue(candidature, section.code, actor=self.verificateur)
        for exigence in section.exigences:
            if exigence.code == non_conforme:
                preuves.juger_exigence(candidature, section.code, exigence.code,
                                       actor=self.verificateur, verdict="non_conforme",
                                       comment="La preuve ne montre pas la saisie des traits.")
            elif (verdict := preuves.effective_verdict(exigence, section.round)) is None or \
                    verdict.verdict != "conforme":
                preuves.juger_exigence(candidature, section.code, exigence.code,
                                       actor=self.verificateur, verdict="conforme")
        self._tick()
        if non_conforme:
            preuves.demander_modifications(candidature, section.code, actor=self.verificateur)
        else:
            preuves.valider_section(candidature, section.code, actor=self.verificateur)

    def pass_preuves(self, candidature: Candidature, *, modifications: bool = False) -> None:
        for i, section in enumerate(self.sections(candidature)):
            self.file_section(candidature, section)
            if modifications and i == 0:
                self.review_section(candidature, section,
                                    non_conforme=section.exigences[0].code)
                fichier = self.file_factory(candidature, "nouvelle_preuve.pdf")
                preuves.deposer_preuve(candidature, section.code, section.exigences[0].code,
                                       actor=self.industriel, fichier=fichier)
                preuves.soumettre_section(candidature, section.code, actor=self.industriel)
            self.review_section(candidature, section)

    def drive(self, candidature: Candidature, until_step: str, *,
              complements: bool = False, modifications: bool = False) -> Candidature:
        """Pass every step before `until_step` (which is left as it opens)."""
        for code in candidature.demarche.steps:
            if code == until_step or candidature.status != "en_cours":
                break
            kind = STEPS[code].kind
            if kind == StepKind.form:
                self.pass_form(candidature, code, complements=complements)
            elif kind == StepKind.convention:
                self.pass_convention(candidature)
            elif kind == StepKind.preuves:
                self.pass_preuves(candidature, modifications=modifications)
            elif kind == StepKind.college:
                if self.college_member is None:
                    raise ValueError("this driver has no collège member to pass the collège")
                college.inscrire(candidature, actor=self.college_member)
                college.decision_favorable(candidature, actor=self.college_member)
            elif kind == StepKind.preuves_pour_avis:
                fichier = self.file_factory(candidature, "preuves_INS.zip")
                avis.deposer_zip(candidature, actor=self.industriel, fichier=fichier, report={})
        db.flush()
        return candidature
