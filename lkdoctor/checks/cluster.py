"""Findings about a Ray cluster (``--ray``): what Ray is told versus what each node has."""

from __future__ import annotations

from lkdoctor.findings import oversubscription_severity
from lkdoctor.model import Finding, Section, Severity
from lkdoctor.plan.lines import line_of
from lkdoctor.report import ClusterNode, ClusterReport, Report


def check(report: Report) -> list[Finding]:
    cluster = report.cluster
    if cluster is None:
        return []
    findings = [
        finding
        for node in cluster.nodes
        for finding in (_overcommit(node), _tasks_oversubscribe(node))
        if finding is not None
    ]
    heterogeneous = _heterogeneous(cluster)
    if heterogeneous is not None:
        findings.append(heterogeneous)
    return findings


def ray_overcommits(node: ClusterNode) -> bool:
    """Ray hands out more CPUs than the node's budget (unknown budget or CPUs: not judged)."""
    cpu = node.report.cpu if node.report is not None else None
    return cpu is not None and node.ray_cpus is not None and node.ray_cpus > cpu.effective


def _overcommit(node: ClusterNode) -> Finding | None:
    """Ray hands out more CPUs than the node's budget: every task then adds its own threads."""
    report = node.report
    if report is None or report.cpu is None or node.ray_cpus is None or not ray_overcommits(node):
        return None
    cpu = report.cpu
    binding = ", ".join(f"{lim.source}={lim.value:g}" for lim in cpu.limits if lim.binding)
    peak = report.plan.peak_threads if report.plan else None
    per_task = f"; each task's LensKit plan may run {peak} threads on top" if peak else ""
    return Finding(
        id="ray-cpu-overcommit",
        severity=oversubscription_severity(node.ray_cpus / max(cpu.effective, 1)),
        section=Section.CLUSTER,
        title=f"Ray schedules {node.ray_cpus:g} CPUs on node {node.label}, "
        f"which has {cpu.effective}",
        evidence=f"Ray resources CPU={node.ray_cpus:g}, effective budget {cpu.effective}"
        f"{f' ({binding})' if binding else ''}{per_task}",
        remediation=f"start this node with `ray start --num-cpus={cpu.effective}` "
        "(or request more num_cpus per task) so Ray's CPU count matches the budget",
    )


def _tasks_oversubscribe(node: ClusterNode) -> Finding | None:
    """Ray runs one task per advertised CPU at once, and LensKit in each plans for the node.

    LensKit inside a Ray task sizes its threads from the node's CPU count, not from the
    task's ``num_cpus``; so concurrent one-CPU tasks multiply the plan's peak.
    """
    report = node.report
    if report is None or report.cpu is None or report.plan is None or node.ray_cpus is None:
        return None
    task = line_of(report.plan).ray_task(report.plan)
    task_cpus, peak, env = task.cpus, task.peak, task.single_threaded_env
    slots = int(node.ray_cpus) // task_cpus
    effective = report.cpu.effective
    demand = slots * peak
    if peak <= 1 or demand <= effective:
        return None
    kind = "one-CPU" if task_cpus == 1 else f"{task_cpus}-CPU"
    return Finding(
        id="ray-tasks-oversubscribed",
        severity=oversubscription_severity(demand / max(effective, 1)),
        section=Section.CLUSTER,
        title=f"{slots} {kind} Ray tasks at once on node {node.label} would run "
        f"{demand} threads on {effective} CPUs",
        evidence=f"Ray runs up to {slots} tasks of num_cpus={task_cpus} at once "
        f"(CPU={node.ray_cpus:g}); LensKit in each plans for the node and peaks at {peak} "
        f"threads ({_plan_text(report)}): {slots} × {peak} = {demand}",
        remediation="give each task num_cpus equal to its plan's peak, or make each task "
        "single-threaded: set these in the node's environment before `ray start` (or in "
        "runtime_env env_vars)",
        env=dict(env),
    )


def _heterogeneous(cluster: ClusterReport) -> Finding | None:
    """Nodes that differ in budget or plan: one setting cannot fit them all."""
    reported = [n for n in cluster.nodes if n.report is not None]
    budgets = {n.label: n.report.cpu.effective for n in reported if n.report and n.report.cpu}
    plans = {n.label: _plan_text(n.report) for n in reported if n.report}
    budgets_differ = len(set(budgets.values())) > 1
    plans_differ = len({n.report.plan_signature() for n in reported if n.report}) > 1
    if not (budgets_differ or plans_differ):
        return None
    what = " and ".join(
        w
        for w, differ in (("CPU budgets", budgets_differ), ("thread plans", plans_differ))
        if differ
    )
    per_node = "; ".join(
        f"{label}: {budgets.get(label, '?')} CPU(s), plan {plans.get(label, '?')}"
        for label in plans
    )
    return Finding(
        id="cluster-heterogeneous",
        severity=Severity.WARNING if plans_differ else Severity.INFO,
        section=Section.CLUSTER,
        title=f"The nodes differ in {what}",
        evidence=per_node,
        remediation="size LensKit's threads per node (set LK_NUM_* in each node's "
        "environment before `ray start`) or keep one node shape; a plan that fits the "
        "largest node oversubscribes the smaller ones",
    )


def _plan_text(report: Report | None) -> str:
    if report is None or report.plan is None:
        return "unknown"
    levels = " | ".join(f"{p}p×{t}t×{b}b" for p, t, b in report.plan_signature())
    return f"{levels} (peak {report.plan.peak_threads})"
