"""Thread plan collector: what LensKit will do with the CPUs, level by level.

The levels follow LensKit's documented rule (SPEC §2, 2025.3 – 2025.8), resolved with the
CPU count LensKit itself uses; the demand is judged against the CPUs really available.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from lkdoctor.model import BackendSetting, PlanLevel
from lkdoctor.plan.backends import backend_floor, backend_settings, plan_inputs
from lkdoctor.plan.lenskit2025.settings import (
    LK_CHILD,
    LK_LISTS,
    LK_VARIABLES,
    LkSettings,
    parse_lk_settings,
)
from lkdoctor.plan.lenskit2025.shape import MAX_LEVELS, Counts, ThreadPlan2025

__all__ = ["LK_VARIABLES", "collect_plan", "level_zero_defaults", "resolve_levels"]


def level_zero_defaults(cpus: int) -> tuple[int, int, int]:
    """LensKit's level-0 defaults for ``cpus`` CPUs: (processes, threads, backend threads)."""
    processes = min(cpus, 4)
    threads = min(cpus, 8)
    backend = max(min(cpus // threads, 4), 1)
    return processes, threads, backend


def _item(values: Sequence[int] | None, index: int) -> int | None:
    return values[index] if values is not None and len(values) > index else None


def resolve_levels(
    processes: Sequence[int] | None,
    threads: Sequence[int] | None,
    backend: Sequence[int] | None,
    child: int | None,
    cpus: int,
) -> list[Counts]:
    """Every level LensKit's documented rule gives, level 0 (the main process) first.

    Level k+1 exists only when level k spawns more than one process.
    """
    cpus = max(cpus, 1)
    default_p, default_t, _ = level_zero_defaults(cpus)
    p0 = _item(processes, 0) or default_p
    t0 = _item(threads, 0) or default_t
    b0 = _item(backend, 0) or max(min(cpus // t0, 4), 1)
    levels = [Counts(p0, t0, b0)]
    while levels[-1].processes > 1 and len(levels) < MAX_LEVELS:
        parent, child_level = levels[-1], len(levels)
        share = max(min(cpus // parent.processes, 4), 1)
        p = _item(processes, child_level) or 1
        t = _item(threads, child_level) or min(parent.threads, share)
        b = _item(backend, child_level)
        if b is None and child_level == 1 and child is not None:
            b = child
        levels.append(Counts(p, t, b or min(parent.backend, share)))
    return levels


def plan_levels(counts: Sequence[Counts], backend_floor: int, cpus: int = 1) -> list[PlanLevel]:
    """Levels with their demand: ``(P0 × … × P(k-1)) × Tk × max(Bk, backend_floor)``.

    A count below 1 (LensKit's own code can produce 0) is counted as ``cpus``: torch refuses
    it and keeps its default, and Rayon reads 0 as one thread per CPU.
    """
    levels = []
    instances = 1
    for index, level in enumerate(counts):
        threads = level.threads if level.threads >= 1 else cpus
        counted = max(level.backend if level.backend >= 1 else cpus, backend_floor)
        levels.append(
            PlanLevel(
                level=index,
                processes=level.processes,
                threads=level.threads,
                backend_threads=level.backend,
                demand=instances * threads * counted,
                instances=instances,
                counted_backend_threads=counted,
            )
        )
        instances *= max(level.processes, 1)
    return levels


# --- the suggestion ---------------------------------------------------------------------


def fit_levels(counts: Sequence[Counts], effective: int) -> list[Counts]:
    """The plan shrunk so every level's demand ≤ ``effective``; values that fit are kept.

    Backend threads give way before explicit threads; a level's process count is capped
    so the processes below it can each run at least one thread.
    """
    effective = max(effective, 1)
    fitted: list[Counts] = []
    instances = 1
    for level in counts:
        budget = max(effective // instances, 1)
        threads = min(level.threads, budget)
        backend = min(level.backend, max(budget // threads, 1))
        processes = max(min(level.processes, effective // instances), 1)
        fitted.append(Counts(processes, threads, backend))
        if processes == 1:
            break
        instances *= processes
    return fitted


def _backend_allowance(fitted: Sequence[Counts], effective: int) -> int:
    """The largest backend pool every fitted level can take on top of its threads."""
    allowance, instances = None, 1
    for level in fitted:
        room = max(effective // (instances * level.threads), 1)
        allowance = room if allowance is None else min(allowance, room)
        instances *= level.processes
    return allowance or 1


def _as_list(values: Sequence[int]) -> str:
    return ",".join(str(value) for value in values)


def suggest_env(
    counts: Sequence[Counts], settings: Sequence[BackendSetting], effective: int
) -> tuple[dict[str, str], bool]:
    """Ready-to-export settings that fit, with explicit lists for every level.

    Explicit lists make LensKit's own code agree with its documentation at every level.
    Returns the settings and whether the current plan already fitted unchanged.
    """
    fitted = fit_levels(counts, effective)
    env = {
        "LK_NUM_PROCS": _as_list([level.processes for level in fitted]),
        "LK_NUM_THREADS": _as_list([level.threads for level in fitted]),
        "LK_NUM_BACKEND_THREADS": _as_list([level.backend for level in fitted]),
    }
    allowance = _backend_allowance(fitted, effective)
    present = {setting.variable for setting in settings}
    for setting in settings:
        if setting.counted and (setting.threads or 0) > allowance:
            env[setting.variable] = str(allowance)
            if setting.variable == "MKL_NUM_THREADS" and "OPENBLAS_NUM_THREADS" not in present:
                # MKL_NUM_THREADS alone makes LensKit leave OpenBLAS unlimited as well.
                env["OPENBLAS_NUM_THREADS"] = str(allowance)
    unchanged = list(fitted) == list(counts) and len(env) == len(LK_LISTS)
    return env, unchanged


# --- LK_NUM_CHILD_THREADS ---------------------------------------------------------------


def child_equivalent(lk: LkSettings, b0: int) -> dict[str, str]:
    """The list form that replaces the deprecated ``LK_NUM_CHILD_THREADS``."""
    if lk.child is None:
        return {}
    if lk.backend is not None and len(lk.backend) > 1:
        return {"LK_NUM_BACKEND_THREADS": _as_list(lk.backend)}
    return {"LK_NUM_BACKEND_THREADS": _as_list([b0, lk.child])}


# --- the collector ----------------------------------------------------------------------


def collect_plan(
    lenskit_cpus: int,
    effective: int,
    environ: Mapping[str, str] | None = None,
    *,
    ask_lenskit: bool = True,
) -> ThreadPlan2025:
    """Resolve LensKit's thread plan with ``lenskit_cpus``; judge it against ``effective``.

    With ``ask_lenskit``, an importable LensKit is also asked what its own code resolves
    (without initializing anything).
    """
    env = os.environ if environ is None else environ
    cpus, effective = max(lenskit_cpus, 1), max(effective, 1)
    lk = parse_lk_settings(env)
    settings, backend_problems = backend_settings(env, cpus)
    floor = backend_floor(settings)
    counts = resolve_levels(lk.processes, lk.threads, lk.backend, lk.child, cpus)
    levels = plan_levels(counts, floor)
    peak, ratio = ThreadPlan2025.judged(levels, effective)
    suggested, fits_as_is = suggest_env(counts, settings, effective)
    plan = ThreadPlan2025(
        inputs=plan_inputs(env, LK_VARIABLES),
        cpu_count=cpus,
        effective=effective,
        levels=levels,
        peak_threads=peak,
        oversubscription=ratio,
        suggested_env=suggested,
        suggestion_fits_as_is=fits_as_is and peak <= effective,
        env_problems=[*lk.problems, *backend_problems],
        backend_env=settings,
        child_threads=lk.child,
        child_threads_equivalent=child_equivalent(lk, counts[0].backend),
    )
    if ask_lenskit:
        attach_lenskit_answer(plan, env)()
    return plan


def attach_lenskit_answer(plan: ThreadPlan2025, environ: Mapping[str, str]) -> Callable[[], None]:
    """Ask the installed LensKit's own code now (it runs in this process, importing nothing);
    the function returned puts its answer into ``plan``."""
    from lkdoctor.plan.lenskit2025.ask import lenskit_answer

    cpus = plan.cpu_count
    floor = backend_floor(backend_settings(environ, cpus)[0])
    answer = lenskit_answer(environ, parse_lk_settings(environ), cpus)

    def attach() -> None:
        plan.lenskit_version = answer.version
        plan.lenskit_note = answer.note
        if answer.counts is not None:
            plan.lenskit_resolved = plan_levels(answer.counts, floor, cpus)

    return attach


__all__ += ["LK_CHILD", "Counts", "backend_settings", "fit_levels", "plan_levels", "suggest_env"]
