"""The dependency audit's verdicts on pip-audit reports (the service itself is not
reachable from the build machines: see docs/security.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "audit_dependencies", Path(__file__).resolve().parents[1] / "scripts" / "audit_dependencies.py")
audit_dependencies = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(audit_dependencies)
evaluate = audit_dependencies.evaluate

VULNERABLE = {"dependencies": [
    {"name": "flask", "version": "3.1.0", "vulns": []},
    {"name": "jinja2", "version": "3.1.2",
     "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}]},
]}
UNREACHABLE = {"dependencies": [
    {"name": "flask", "version": "3.1.0", "skip_reason": "Dependency not found on PyPI"}]}


def test_a_known_vulnerability_fails_the_build() -> None:
    status, lines = evaluate(VULNERABLE, set(), strict=False)
    assert status == 1
    assert any("GHSA-h5c8-rqwp-cp95" in line and "À CORRIGER" in line for line in lines)


def test_an_accepted_advisory_passes_and_is_still_listed() -> None:
    status, lines = evaluate(VULNERABLE, {"GHSA-h5c8-rqwp-cp95"}, strict=False)
    assert status == 0
    assert any("acceptée" in line for line in lines)


def test_nothing_audited_is_never_reported_as_clean() -> None:
    status, lines = evaluate(UNREACHABLE, set(), strict=False)
    assert status == 0
    assert "AUCUNE dépendance n'a pu être auditée" in lines[-1]
    assert not any("aucune vulnérabilité connue non acceptée" in line for line in lines)
    assert evaluate(UNREACHABLE, set(), strict=True)[0] == 1


def test_a_clean_audit_passes() -> None:
    clean = {"dependencies": [{"name": "flask", "version": "3.1.0", "vulns": []}]}
    assert evaluate(clean, set(), strict=True) == (
        0, ["pip-audit: 1 dépendance(s) auditée(s) sur 1.",
            "pip-audit: aucune vulnérabilité connue non acceptée."])
