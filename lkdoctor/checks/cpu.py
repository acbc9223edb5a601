"""Findings about the CPU budget."""

from __future__ import annotations

from lkdoctor.findings import env_problem_findings
from lkdoctor.model import CpuBudget, Finding, Section, Severity
from lkdoctor.report import Report


def check(report: Report) -> list[Finding]:
    cpu = report.cpu
    if cpu is None:
        return []
    findings = env_problem_findings(Section.CPU, cpu.env_problems)
    mismatch = count_mismatch(report)
    if mismatch is not None:
        findings.append(mismatch)
    smt = smt_finding(cpu)
    if smt is not None:
        findings.append(smt)
    return findings


def binding_sources(cpu: CpuBudget) -> str:
    """The rows that set ``effective``, as ``source=value (detail)``."""
    rows = [f"{limit.source}={limit.value}" for limit in cpu.limits if limit.binding]
    return ", ".join(rows) or "no limit found"


def lenskit_overcounts(cpu: CpuBudget) -> bool:
    """LensKit sizes its pools from more CPUs than the process may use."""
    return cpu.lenskit_effective > cpu.effective


def count_mismatch(report: Report) -> Finding | None:
    """LensKit sizes its pools from more CPUs than the process may use."""
    cpu = report.cpu
    if cpu is None or not lenskit_overcounts(cpu):
        return None
    env = dict(report.plan.suggested_env) if report.plan else {}
    return Finding(
        id="cpu-count-mismatch",
        severity=Severity.WARNING,
        section=Section.CPU,
        title=f"LensKit will plan for {cpu.lenskit_effective} CPUs but only "
        f"{cpu.effective} are available",
        evidence=f"lenskit_effective={cpu.lenskit_effective} (affinity / process_cpu_count; "
        f"LensKit ignores cgroup quotas and batch schedulers), effective={cpu.effective} "
        f"({binding_sources(cpu)})",
        remediation="set LensKit's thread counts explicitly so they fit the real budget"
        + (":" if env else ""),
        env=env,
    )


def smt_finding(cpu: CpuBudget) -> Finding | None:
    """SMT (hyper-threading) makes the logical count larger than the cores."""
    if not cpu.smt or cpu.physical is None:
        return None
    per_core = cpu.logical / cpu.physical
    return Finding(
        id="cpu-smt",
        severity=Severity.INFO,
        section=Section.CPU,
        title=f"SMT: {cpu.logical} logical CPUs on {cpu.physical} physical cores",
        evidence=f"{per_core:g} hardware threads per core; torch's default intra-op count is "
        f"the physical core count, LensKit's defaults count logical CPUs",
        remediation="compute-bound BLAS/torch work rarely gains from the second hardware "
        "thread; measure before raising backend threads above the physical core count",
    )
