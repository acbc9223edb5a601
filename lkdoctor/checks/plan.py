"""Findings about the thread plan."""

from __future__ import annotations

from lkdoctor.model import Finding, Report


def check(report: Report) -> list[Finding]:
    plan = report.plan
    if plan is None:
        return []
    findings: list[Finding] = []
    if plan.oversubscription > 1.0:
        worst = max(plan.levels, key=lambda level: level.demand)
        findings.append(
            Finding(
                id="plan-oversubscribed",
                severity="error" if plan.oversubscription >= 2.0 else "warning",
                section="plan",
                title=f"The thread plan asks for {plan.peak_threads} threads on {plan.effective} CPUs",
                evidence=f"level {worst.level}: {worst.processes} processes x {worst.threads} threads "
                f"x {worst.backend_threads} backend threads; oversubscription {plan.oversubscription:.2f}",
                remediation="lower LK_NUM_THREADS / LK_NUM_BACKEND_THREADS so the demand fits",
                env=dict(plan.suggested_env),
            )
        )
    return findings
