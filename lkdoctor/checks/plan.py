"""Findings about the thread plan: those of every dialect, then the dialect's own.

The plan's shape (its model) says which dialect's findings apply: `DIALECT_CHECKS` maps
each shape to its checks (LensKit 2025's are here, LensKit 2026's in ``plan2026``); a plan
of another shape gets the checks every plan has.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import Any

from lkdoctor.checks.common import (
    env_problem_findings,
    lenskit_unsupported,
    oversubscription_severity,
)
from lkdoctor.checks.plan2026 import check_2026
from lkdoctor.model import (
    BackendSetting,
    Finding,
    PlanBase,
    PlanLevel,
    Section,
    Severity,
    ThreadPlan2025,
    ThreadPlan2026,
    plan_signature,
)
from lkdoctor.pools.kinds import BLAS_VARIABLES
from lkdoctor.report import Report

SECTION = Section.PLAN


def _many(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 'es' if noun.endswith('s') else 's'}"


def describe_level(level: PlanLevel) -> str:
    """``level 1: 4 processes × 8 threads × 4 backend threads = 128``."""
    backend = level.counted_backend_threads or level.backend_threads
    counted = (
        "" if backend == level.backend_threads else f" (LensKit plans {level.backend_threads})"
    )
    return (
        f"level {level.level}: {_many(level.instances, 'process')} × "
        f"{_many(level.threads, 'thread')} × {_many(backend, 'backend thread')}{counted} "
        f"= {level.demand}"
    )


def overflows(level: PlanLevel, effective: int) -> bool:
    """The level asks for more threads at once than there are CPUs."""
    return level.demand > effective


def oversubscribed(plan: PlanBase) -> list[Finding]:
    if plan.oversubscription <= 1.0:
        return []
    overflowing = [level for level in plan.levels if overflows(level, plan.effective)]
    worst = max(overflowing, key=lambda level: level.demand)
    return [
        Finding(
            id="plan-oversubscribed",
            severity=oversubscription_severity(plan.oversubscription),
            section=SECTION,
            title=f"Level {worst.level} of the thread plan asks for {worst.demand} threads "
            f"on {plan.effective} CPUs",
            evidence="; ".join(describe_level(level) for level in overflowing)
            + f" (oversubscription {plan.oversubscription:.2f})",
            remediation="use the suggested lists: they keep every level within the CPUs "
            "and pin every level, so LensKit's code and its documentation agree",
            env=dict(plan.suggested_env),
        )
    ]


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


def _conflict(
    setting: BackendSetting, levels: Sequence[PlanLevel], suggested: dict[str, str]
) -> Finding | None:
    threads = setting.threads
    if threads is None:
        return None
    planned_key = "threads" if setting.variable == "RAYON_NUM_THREADS" else "backend_threads"
    planned = [getattr(level, planned_key) for level in levels]
    raises = setting.counted and any(threads > count for count in planned)
    lowers_blas = setting.variable in BLAS_VARIABLES and any(threads < count for count in planned)
    differs_rayon = setting.variable == "RAYON_NUM_THREADS" and any(threads != n for n in planned)
    if not (raises or lowers_blas or differs_rayon):
        return None
    per_level = ", ".join(f"{n} at level {i}" for i, n in enumerate(planned))
    what = "explicit threads" if planned_key == "threads" else "backend threads"
    fix = suggested.get(setting.variable)
    remediation = f"unset {setting.variable} so LensKit sizes it per level"
    if fix is not None:
        remediation += f", or set {setting.variable}={fix}"
    return Finding(
        id="env-conflict",
        severity=Severity.WARNING if raises else Severity.INFO,
        section=SECTION,
        title=f"{setting.variable}={shlex.quote(setting.value)} conflicts with LensKit's {what} ({per_level})",
        evidence=setting.effect + ("; the demand counts the larger pool" if raises else ""),
        remediation=remediation,
        env={setting.variable: fix} if fix is not None else {},
    )


def conflicts(plan: PlanBase) -> list[Finding]:
    found = (_conflict(s, plan.levels, plan.suggested_env) for s in plan.backend_env)
    return [finding for finding in found if finding is not None]


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
        f"{_many(level.processes, 'process')}, {_many(level.threads, 'thread')}, "
        f"{level.backend_threads} backend (demand {level.demand})"
    )


def lenskit_unavailable(plan: ThreadPlan2025) -> list[Finding]:
    if plan.lenskit_note is None:
        return []
    return [
        lenskit_unsupported(SECTION, plan.lenskit_note, "LensKit's documented 2025.3 – 2025.8 rule")
    ]


def check_2025(plan: ThreadPlan2025) -> list[Finding]:
    return [
        *env_problem_findings(SECTION, plan.env_problems),
        *deprecated_child(plan),
        *conflicts(plan),
        *oversubscribed(plan),
        *divergence(plan),
        *lenskit_unavailable(plan),
    ]


def _check_2026(plan: ThreadPlan2026) -> list[Finding]:
    return [
        *env_problem_findings(SECTION, plan.env_problems),
        *check_2026(plan),
        *conflicts(plan),
    ]


def check_any(plan: PlanBase) -> list[Finding]:
    """What every plan is checked for, whatever its dialect."""
    return [
        *env_problem_findings(SECTION, plan.env_problems),
        *conflicts(plan),
        *oversubscribed(plan),
    ]


#: Each plan shape's checks (a shape not listed gets `check_any`).
DIALECT_CHECKS: dict[type[PlanBase], Callable[[Any], list[Finding]]] = {
    ThreadPlan2025: check_2025,
    ThreadPlan2026: _check_2026,
}


def check(report: Report) -> list[Finding]:
    plan = report.plan
    if plan is None:
        return []
    return DIALECT_CHECKS.get(type(plan), check_any)(plan)
