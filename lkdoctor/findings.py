"""The rules findings share, wherever they are made: by the section checks (``checks/``) and
by each LensKit line's own checks (``plan/<line>/checks.py``), which sit with their line in
``plan/`` and so cannot import ``checks/``."""

from __future__ import annotations

from lkdoctor.host.undecodable import quoted
from lkdoctor.model import EnvProblem, Finding, Section, Severity


def oversubscription_severity(ratio: float) -> Severity:
    """Threads per CPU over the budget: a warning above the CPUs, an error from twice as many."""
    return Severity.ERROR if ratio >= 2.0 else Severity.WARNING


def env_problem_findings(report_section: Section, problems: list[EnvProblem]) -> list[Finding]:
    """``env-invalid`` findings for the environment values a collector could not use."""
    findings = []
    for problem in problems:
        findings.append(
            Finding(
                id="env-invalid",
                severity=Severity.ERROR,
                section=report_section,
                title=f"{problem.variable} has an invalid value",
                evidence=f"{problem.variable}={quoted(problem.value)}"
                + (f": {problem.consequence}" if problem.consequence else ""),
                remediation=f"set {problem.variable} to {problem.expected}, or unset it",
            )
        )
    return findings


def lenskit_unsupported(report_section: Section, note: str, follows: str) -> Finding:
    """LensKit is installed but its own answer could not be read (``note`` says why)."""
    return Finding(
        id="lenskit-unsupported",
        severity=Severity.INFO,
        section=report_section,
        title="LensKit is installed but its own plan could not be read",
        evidence=note,
        remediation=f"the plan shown follows {follows}",
    )
