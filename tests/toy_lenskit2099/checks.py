"""The toy line's own finding, after what every plan is checked for."""

from __future__ import annotations

from lkdoctor.model import Finding, Severity
from lkdoctor.plan.checks import SECTION, common_findings

from .shape import VARIABLE, ThreadPlan2099

TOY_FINDING = "toy-pool-sized"


def findings(plan: ThreadPlan2099) -> list[Finding]:
    threads = plan.levels[0].threads
    return [
        *common_findings(plan),
        Finding(
            id=TOY_FINDING,
            severity=Severity.INFO,
            section=SECTION,
            title=f"LensKit 2099 sizes its toy pool to {threads} threads",
            evidence=f"from {plan.threads_source}",
            remediation=f"set {VARIABLE} to choose the size",
        ),
    ]
