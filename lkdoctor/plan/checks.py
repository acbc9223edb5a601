"""The findings every plan gets, whatever its LensKit line: its invalid environment values,
backend variables that conflict with LensKit's own sizes, and levels over the CPUs.

A line's own checks (``plan/<line>/checks.py``) add to these, in the order its
`LensKitLine.findings` gives; a line with none gets `common_findings`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from lkdoctor.findings import env_problem_findings, oversubscription_severity
from lkdoctor.model import BackendSetting, Finding, PlanBase, PlanLevel, Section, Severity
from lkdoctor.pools.kinds import BLAS_VARIABLES

SECTION = Section.PLAN


def many(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 'es' if noun.endswith('s') else 's'}"


def describe_level(level: PlanLevel) -> str:
    """``level 1: 4 processes × 8 threads × 4 backend threads = 128``."""
    backend = level.counted_backend_threads or level.backend_threads
    counted = (
        "" if backend == level.backend_threads else f" (LensKit plans {level.backend_threads})"
    )
    return (
        f"level {level.level}: {many(level.instances, 'process')} × "
        f"{many(level.threads, 'thread')} × {many(backend, 'backend thread')}{counted} "
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


def env_problems(plan: PlanBase) -> list[Finding]:
    """``env-invalid`` for each value the plan could not use."""
    return env_problem_findings(SECTION, plan.env_problems)


def common_findings(plan: PlanBase) -> list[Finding]:
    """What every plan is checked for, whatever its line."""
    return [*env_problems(plan), *conflicts(plan), *oversubscribed(plan)]
