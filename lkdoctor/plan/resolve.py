"""Thread plan collector: what LensKit will do with the CPUs, level by level.

The levels follow LensKit's documented rule (SPEC §2, 2025.3 – 2025.8), resolved with the
CPU count LensKit itself uses; the demand is judged against the CPUs really available.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from lkdoctor.host.pool_kinds import Blas, OpenMP, owner_of
from lkdoctor.model import BackendSetting, EnvProblem, PlanLevel, ThreadPlan
from lkdoctor.plan.levels import MAX_LEVELS, Counts
from lkdoctor.plan.settings import (
    BACKEND_VARIABLES,
    LK_CHILD,
    LK_LISTS,
    LK_VARIABLES,
    LkSettings,
    parse_backend,
    parse_lk_settings,
    shown,
)

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


def oversubscription(peak: int, effective: int) -> float:
    """``peak / effective`` to 3 decimals, bounded so absurd inputs stay a finite float."""
    effective = max(effective, 1)
    if peak > 10**12 * effective:
        return float(10**12)
    return round(peak / effective, 3)


# --- the backends' own variables -------------------------------------------------------


def _blas_fallback(environ: Mapping[str, str], cpus: int) -> tuple[int, str]:
    """Threads OpenBLAS starts without a usable OPENBLAS_NUM_THREADS: OMP's, else one per CPU."""
    variable = OpenMP.variables[0]
    omp = parse_backend(variable, environ.get(variable.name)).first
    if omp is not None:
        return omp, variable.name
    return cpus, "one per CPU"


def _blas_setting(
    name: str, value: str, number: int | None, environ: Mapping[str, str], cpus: int
) -> BackendSetting:
    skip = f"LensKit skips its BLAS limit (threadpoolctl) because {name} is set"
    fallback, source = _blas_fallback(environ, cpus)
    if number is None:
        what = "empty" if not value else "not a usable count"
        return BackendSetting(
            variable=name,
            value=shown(value),
            threads=fallback,
            counted=True,
            effect=f"{skip}, and it is {what}, so the library starts {fallback} threads "
            f"({source}) per process at every level",
        )
    threads, effect = number, f"{skip}, so BLAS runs {number} threads per process at every level"
    if name == "MKL_NUM_THREADS" and "OPENBLAS_NUM_THREADS" not in environ:
        threads = max(number, fallback)
        effect += (
            f"; OpenBLAS (numpy's BLAS) ignores MKL_NUM_THREADS and starts {fallback} ({source})"
        )
    return BackendSetting(variable=name, value=value, threads=threads, counted=True, effect=effect)


def _other_setting(
    name: str, value: str, number: int | None, blas_skipped: bool, cpus: int
) -> BackendSetting:
    if number is None:
        return BackendSetting(
            variable=name,
            value=shown(value),
            threads=None,
            counted=False,
            effect="ignored by the library, which uses its own default",
        )
    if name == "OMP_NUM_THREADS":
        return BackendSetting(
            variable=name,
            value=value,
            threads=number,
            counted=True,
            effect=f"OpenMP code that LensKit does not size (anything beyond torch and BLAS) "
            f"starts {number} threads per process; worker processes inherit it",
        )
    if name == "BLIS_NUM_THREADS":
        if blas_skipped:
            effect = f"LensKit skips its BLAS limit, so BLIS runs {number} threads per process"
        else:
            effect = "overridden: LensKit limits every BLAS, BLIS included, to the backend count"
        return BackendSetting(
            variable=name, value=value, threads=number, counted=blas_skipped, effect=effect
        )
    if name == "RAYON_NUM_THREADS":
        threads = number or cpus
        return BackendSetting(
            variable=name,
            value=value,
            threads=threads,
            counted=False,
            effect=f"LensKit builds its Rayon pool with LK_NUM_THREADS explicitly, so this only "
            f"sizes other Rust extensions' pools ({threads} threads)",
        )
    library = owner_of(name).name
    return BackendSetting(
        variable=name,
        value=value,
        threads=number,
        counted=True,
        effect=f"{library} uses {number} threads per process; LensKit does not set it, "
        "and worker processes inherit it",
    )


def backend_settings(
    environ: Mapping[str, str], cpus: int
) -> tuple[list[BackendSetting], list[EnvProblem]]:
    """What each backend variable that is set does to LensKit's plan (LensKit's process pool)."""
    # LensKit tests presence, not value: an empty OPENBLAS_NUM_THREADS still skips the limit.
    blas_skipped = any(name in environ for name in Blas.LENSKIT_SKIPS_WHEN_SET)
    settings, problems = [], []
    for variable in BACKEND_VARIABLES:
        if variable.name not in environ:
            continue
        value = environ[variable.name]
        parsed = parse_backend(variable, value)
        if parsed.problem is not None:
            problems.append(parsed.problem)
        if variable.name in Blas.LENSKIT_SKIPS_WHEN_SET:
            settings.append(_blas_setting(variable.name, value, parsed.first, environ, cpus))
        elif value:
            settings.append(_other_setting(variable.name, value, parsed.first, blas_skipped, cpus))
    return settings, problems


def backend_floor(settings: Sequence[BackendSetting]) -> int:
    """The largest backend pool the backends' own variables start in every process."""
    return max((s.threads or 0 for s in settings if s.counted), default=0)


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


def plan_inputs(environ: Mapping[str, str]) -> dict[str, str]:
    lk = {name: environ[name] for name in LK_VARIABLES if environ.get(name)}
    backends = {v.name: environ[v.name] for v in BACKEND_VARIABLES if v.name in environ}
    return {**lk, **backends}


def collect_plan(
    lenskit_cpus: int,
    effective: int,
    environ: Mapping[str, str] | None = None,
    *,
    ask_lenskit: bool = True,
) -> ThreadPlan:
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
    peak = max(level.demand for level in levels)
    suggested, fits_as_is = suggest_env(counts, settings, effective)
    plan = ThreadPlan(
        inputs=plan_inputs(env),
        cpu_count=cpus,
        effective=effective,
        levels=levels,
        peak_threads=peak,
        oversubscription=oversubscription(peak, effective),
        suggested_env=suggested,
        suggestion_fits_as_is=fits_as_is and peak <= effective,
        env_problems=[*lk.problems, *backend_problems],
        backend_env=settings,
        child_threads=lk.child,
        child_threads_equivalent=child_equivalent(lk, counts[0].backend),
    )
    if ask_lenskit:
        from lkdoctor.plan.lenskit2025 import lenskit_answer

        answer = lenskit_answer(env, lk, cpus)
        plan.lenskit_version = answer.version
        plan.lenskit_note = answer.note
        if answer.counts is not None:
            plan.lenskit_resolved = plan_levels(answer.counts, floor, cpus)
    return plan


__all__ += ["LK_CHILD", "Counts", "backend_settings", "fit_levels", "plan_levels", "suggest_env"]
