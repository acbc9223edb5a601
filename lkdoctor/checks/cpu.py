"""Findings about the CPU budget."""

from __future__ import annotations

from lkdoctor.model import Finding, Report


def check(report: Report) -> list[Finding]:
    cpu = report.cpu
    if cpu is None:
        return []
    findings: list[Finding] = []
    if cpu.lenskit_effective > cpu.effective:
        binding = ", ".join(
            f"{limit.source}={limit.value}" for limit in cpu.limits if limit.binding
        )
        findings.append(
            Finding(
                id="cpu-count-mismatch",
                severity="warning",
                section="cpu",
                title=f"LensKit will plan for {cpu.lenskit_effective} CPUs but only {cpu.effective} are available",
                evidence=f"lenskit_effective={cpu.lenskit_effective}, effective={cpu.effective} ({binding})",
                remediation="set LensKit's thread counts explicitly so they fit the real budget",
                env=dict(report.plan.suggested_env) if report.plan else {},
            )
        )
    return findings
