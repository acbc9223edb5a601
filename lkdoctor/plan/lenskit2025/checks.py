"""LensKit 2025's own findings: the deprecated child-threads variable, and where its own code
resolves levels other than its documentation (or could not be read)."""

from __future__ import annotations

from lkdoctor.findings import lenskit_unsupported
from lkdoctor.model import Finding, PlanLevel, Severity, plan_signature
from lkdoctor.plan.checks import (
    SECTION,
    conflicts,
    env_problems,
    many,
    oversubscribed,
)
from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025


def deprecated_child(plan: ThreadPlan2025) -> list[Finding]:
    if plan.child_threads is None:
        return []
    equivalent = plan.child_threads_equivalent
    listed = ", ".join(f"{k}={v}" for k, v in equivalent.items())
    ignored = ""
    backend = plan.inputs.get("LK_NUM_BACKEND_THREADS", "")
    if "," in backend:
        ignored = (
            "; LK_NUM_BACKEND_THREADS already lists level 1, so by the documentation it "
            "has no effect (LensKit 2025.8 appends it as one more level)"
        )
    return [
        Finding(
            id="env-deprecated",
            severity=Severity.WARNING,
            section=SECTION,
            title="LK_NUM_CHILD_THREADS is deprecated",
            evidence=f"LK_NUM_CHILD_THREADS={plan.child_threads}{ignored}",
            remediation=f"unset LK_NUM_CHILD_THREADS and set {listed}",
            env=dict(equivalent),
        )
    ]


def lenskit_agrees(plan: ThreadPlan2025) -> bool | None:
    """Whether LensKit's own code resolves the documented plan; None when it was not asked."""
    if plan.lenskit_resolved is None:
        return None
    return plan_signature(plan.lenskit_resolved) == plan_signature(plan.levels)


def divergence(plan: ThreadPlan2025) -> list[Finding]:
    resolved = plan.lenskit_resolved
    if resolved is None or lenskit_agrees(plan):
        return []
    differing = []
    for index in range(max(len(plan.levels), len(resolved))):
        doc = plan.levels[index] if index < len(plan.levels) else None
        own = resolved[index] if index < len(resolved) else None
        if doc is None or own is None or doc.shape != own.shape:
            differing.append(
                f"level {index}: documented {_shape(doc)}, LensKit {plan.lenskit_version} {_shape(own)}"
            )
    own_peak = max(level.demand for level in resolved)
    if any(level.threads < 1 or level.backend_threads < 1 for level in resolved):
        differing.append(
            "a count of 0 is refused by torch and read by Rayon as one thread per CPU, "
            f"so it is counted as {plan.cpu_count}"
        )
    worse = own_peak > plan.effective >= plan.peak_threads or own_peak > plan.peak_threads
    return [
        Finding(
            id="lenskit-divergence",
            severity=Severity.WARNING if worse else Severity.INFO,
            section=SECTION,
            title=f"LensKit {plan.lenskit_version} resolves the plan differently from its documentation",
            evidence="; ".join(differing)
            + f" (peak {own_peak} threads, documented {plan.peak_threads})",
            remediation="set LK_NUM_PROCS, LK_NUM_THREADS and LK_NUM_BACKEND_THREADS as lists "
            "covering every level, so both agree",
            env=dict(plan.suggested_env),
        )
    ]


def _shape(level: PlanLevel | None) -> str:
    if level is None:
        return "no such level"
    return (
        f"{many(level.processes, 'process')}, {many(level.threads, 'thread')}, "
        f"{level.backend_threads} backend (demand {level.demand})"
    )


def lenskit_unavailable(plan: ThreadPlan2025) -> list[Finding]:
    if plan.lenskit_note is None:
        return []
    return [
        lenskit_unsupported(SECTION, plan.lenskit_note, "LensKit's documented 2025.3 – 2025.8 rule")
    ]


def findings(plan: ThreadPlan2025) -> list[Finding]:
    return [
        *env_problems(plan),
        *deprecated_child(plan),
        *conflicts(plan),
        *oversubscribed(plan),
        *divergence(plan),
        *lenskit_unavailable(plan),
    ]
