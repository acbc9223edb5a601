"""Findings from the micro-benchmarks: what the measurements showed, in the verdict's words."""

from __future__ import annotations

from lkdoctor.findings import oversubscription_severity
from lkdoctor.model import Bench, Finding, Section, Severity, Throttling, Verdict
from lkdoctor.report import Report


def _suggested(report: Report) -> dict[str, str]:
    return dict(report.plan.suggested_env) if report.plan is not None else {}


def _throttling(bench: Bench) -> tuple[Throttling, float] | None:
    """Throttling added up over every run, with the wall time it happened in."""
    measured = [run for run in bench.runs if run.throttling is not None]
    if not measured:
        return None
    total = Throttling(
        periods=sum(r.throttling.periods for r in measured if r.throttling),
        throttled_periods=sum(r.throttling.throttled_periods for r in measured if r.throttling),
        throttled_seconds=sum(r.throttling.throttled_seconds for r in measured if r.throttling),
    )
    return total, sum(r.wall_seconds for r in measured)


def oversubscribed(report: Report) -> list[Finding]:
    bench = report.bench
    if bench.verdict != Verdict.OVERSUBSCRIBED or bench.metrics is None:
        return []
    m = bench.metrics
    return [
        Finding(
            id="bench-oversubscribed",
            severity=oversubscription_severity(m.plan_threads / max(m.effective, 1)),
            section=Section.BENCH,
            title=f"Measured: {m.plan_threads} busy threads oversubscribe {m.effective} CPUs",
            evidence=bench.reason,
            remediation="use fewer threads so that LK_NUM_THREADS × LK_NUM_BACKEND_THREADS "
            f"is at most {m.effective}",
            env=_suggested(report),
        )
    ]


def throttled(report: Report) -> list[Finding]:
    found = _throttling(report.bench)
    if found is None:
        return []
    total, wall = found
    if total.throttled_periods == 0:
        return []
    quota = report.cpu.cgroup.quota if report.cpu and report.cpu.cgroup else None
    quota_text = (
        f"the cgroup's quota of {quota:g} CPUs" if quota is not None else "the cgroup's CPU quota"
    )
    return [
        Finding(
            id="cgroup-throttled",
            severity=Severity.WARNING,
            section=Section.BENCH,
            title=f"The benchmark was throttled by {quota_text}",
            evidence=f"{total.throttled_periods} of {total.periods} quota periods throttled, "
            f"{total.throttled_seconds:.3f} s throttled during {wall:.3f} s of runs",
            remediation="keep the busy threads within the quota (or raise the quota, "
            "e.g. docker --cpus); throttled threads stop for the rest of each period",
            env=_suggested(report),
        )
    ]


def contended(report: Report) -> list[Finding]:
    bench = report.bench
    if bench.verdict != Verdict.CONTENDED:
        return []
    return [
        Finding(
            id="bench-contended",
            severity=Severity.INFO,
            section=Section.BENCH,
            title="Other processes are using the CPUs this plan needs",
            evidence=bench.reason,
            remediation="measure again when the machine is quieter, or run on dedicated CPUs "
            "(taskset, a batch scheduler allocation)",
        )
    ]


def undersubscribed(report: Report) -> list[Finding]:
    bench = report.bench
    if bench.verdict != Verdict.UNDERSUBSCRIBED:
        return []
    return [
        Finding(
            id="bench-undersubscribed",
            severity=Severity.INFO,
            section=Section.BENCH,
            title="The plan leaves CPUs idle that would make it faster",
            evidence=bench.reason,
            remediation="raise LK_NUM_THREADS or LK_NUM_BACKEND_THREADS towards the CPU count",
            env=_suggested(report),
        )
    ]


def overran(report: Report) -> list[Finding]:
    bench = report.bench
    if not bench.overruns:
        return []
    return [
        Finding(
            id="bench-overran",
            severity=Severity.INFO,
            section=Section.BENCH,
            title=f"The watchdog cancelled {len(bench.overruns)} benchmark run(s) at their deadline",
            evidence="; ".join(bench.overruns),
            remediation="the figures use the work done before the cancel; "
            "a longer --bench-time measures more",
        )
    ]


def check(report: Report) -> list[Finding]:
    return [
        *oversubscribed(report),
        *throttled(report),
        *contended(report),
        *undersubscribed(report),
        *overran(report),
    ]
