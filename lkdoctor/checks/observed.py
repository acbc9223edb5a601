"""Findings about an observed process tree (``--pid``, ``-- COMMAND``)."""

from __future__ import annotations

from collections import defaultdict

from lkdoctor.checks.pools import (
    multiple_openmp_finding,
    oversubscription_env,
)
from lkdoctor.findings import oversubscription_severity
from lkdoctor.model import Finding, Observed, ObservedProcess, Section, Severity
from lkdoctor.observe.sampler import OVERSUBSCRIBED_MARGIN as RUNNABLE_MARGIN
from lkdoctor.pools.kinds import KINDS, OpenMP
from lkdoctor.report import Report

SECTION = Section.OBSERVED

#: A run whose runnable threads exceed the CPUs this share of the time is oversubscribed,
#: even when quieter phases bring the average under the CPUs.
OVERSUBSCRIBED_SHARE = 0.5


def check(report: Report) -> list[Finding]:
    observed = report.observed
    if observed is None:
        return []
    findings = openmp_findings(observed)
    if observed.cpus is not None and _oversubscribed(observed, observed.cpus):
        findings.append(tree_oversubscribed_finding(observed, observed.cpus, report))
    findings += [over_plan_finding(row) for row in observed.processes if _over_plan(row)]
    return findings


def _oversubscribed(observed: Observed, cpus: int) -> bool:
    return (
        observed.avg_runnable > cpus * RUNNABLE_MARGIN
        or observed.oversubscribed_share >= OVERSUBSCRIBED_SHARE
    )


def _over_plan(row: ObservedProcess) -> bool:
    planned = row.planned_threads
    if planned is None:
        return False
    return row.avg_runnable > planned * RUNNABLE_MARGIN and row.avg_runnable >= planned + 0.5


def openmp_findings(observed: Observed) -> list[Finding]:
    """Two OpenMP runtimes in one process of the tree."""
    findings = []
    for row in observed.processes:
        openmp = {library.name for library in OpenMP.libraries}
        runtimes = [name for name in row.libraries if name in openmp]
        if len(runtimes) > 1:
            finding = multiple_openmp_finding({kind: [f"pid {row.pid}"] for kind in runtimes})
            findings.append(finding.model_copy(update={"section": SECTION}))
    return findings


def process_line(row: ObservedProcess, libraries_shown: bool = True) -> str:
    """One process of the breakdown: pid, name, level, runnable (running + waiting), threads."""
    libraries = f", {'/'.join(row.libraries)}" if row.libraries and libraries_shown else ""
    gone = ", exited" if row.exited else ""
    return (
        f"pid {row.pid} {row.name} (level {row.level}): {row.avg_runnable:g} runnable "
        f"({row.avg_running:g} running, {row.avg_waiting:g} waiting), "
        f"{row.threads} threads{libraries}{gone}"
    )


def breakdown(observed: Observed, limit: int = 12) -> str:
    """The busiest processes first; idle ones are left out."""
    rows = sorted(observed.processes, key=lambda r: -r.avg_runnable)
    busy = [row for row in rows if row.avg_runnable >= 0.05][:limit]
    lines = [process_line(row, libraries_shown=False) for row in busy]
    rest = len(observed.processes) - len(busy)
    if rest:
        lines.append(f"{rest} more process(es) nearly idle")
    return "; ".join(lines)


def tree_oversubscribed_finding(observed: Observed, cpus: int, report: Report) -> Finding:
    ratio = observed.avg_runnable / cpus
    what = (
        f"the command {observed.command[0]!r}" if observed.command else f"pid {observed.root_pid}"
    )
    return Finding(
        id="process-oversubscribed",
        severity=oversubscription_severity(ratio),
        section=SECTION,
        title=f"{what} and its {len(observed.processes) - 1} descendant(s) keep "
        f"{observed.avg_runnable:g} threads runnable on {cpus} CPU(s)",
        evidence=f"over {observed.seconds:g} s: {observed.avg_waiting:g} threads waiting for a "
        f"CPU on average ({observed.wait_share:.0%} of runnable time), more runnable than CPUs "
        f"{observed.oversubscribed_share:.0%} of the time, peak {observed.peak_runnable:g}. "
        f"By process: {breakdown(observed)}",
        remediation="give each process fewer threads so that processes × threads × backend "
        "threads fits the CPUs",
        # several processes: one OpenMP thread each; one process alone: its CPUs
        env=oversubscription_env(report, cpus if len(observed.processes) == 1 else 1),
    )


def suspected_pool(row: ObservedProcess) -> tuple[str, str] | None:
    """The pool most likely over its share, and the variable that sizes it: the first pool
    kind (torch's intra-op pool first) whose library the process has loaded."""
    for kind in KINDS:
        loaded = any(library.name in row.libraries for library in kind.libraries)
        if loaded and kind.sized_by:
            return f"{kind.name} pool", kind.sized_by
    return None


def over_plan_finding(row: ObservedProcess) -> Finding:
    planned = row.planned_threads or 0
    pool = suspected_pool(row)
    names = ", ".join(f"{count} × {name}" for name, count in list(row.thread_names.items())[:4])
    counts = defaultdict(list)
    for variable, value in row.env.items():
        counts[value].append(variable)
    matching = [
        f"{variable}={value}"
        for value, variables in counts.items()
        for variable in variables
        if value.isdigit() and int(value) > planned and int(value) <= row.threads
    ]
    which = f"; most likely its {pool[0]} ({pool[1]})" if pool else ""
    sized = f"; sized by {', '.join(matching)}" if matching else ""
    remediation = (
        f"size its {pool[0]} to {planned} thread(s) ({pool[1]}={planned} in its environment)"
        if pool
        else f"limit it to {planned} busy thread(s)"
    )
    return Finding(
        id="process-over-plan",
        severity=Severity.WARNING,
        section=SECTION,
        title=f"pid {row.pid} ({row.name}, level {row.level}) keeps {row.avg_runnable:g} "
        f"threads runnable; the plan gives it {planned}",
        evidence=f"{process_line(row)}; threads by name: {names or '?'}{which}{sized}",
        remediation=remediation,
        env={pool[1]: str(planned)} if pool else {},
    )
