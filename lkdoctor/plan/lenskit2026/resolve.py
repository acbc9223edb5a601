"""The thread plan in LensKit 2026's dialect: settings with sources, demand, a fitting suggestion.

The model of what runs at once is in :mod:`lkdoctor.plan.lenskit2026.settings`'s docstring;
LensKit's own answer is asked in :mod:`lkdoctor.plan.lenskit2026.ask`.
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from lkdoctor.model import PlanLevel
from lkdoctor.plan.backends import backend_settings, plan_inputs
from lkdoctor.plan.lenskit2026.ask import ask_in_background, attach_answer, parsed_by_lenskit
from lkdoctor.plan.lenskit2026.settings import (
    FIELD_TYPES,
    Resolution,
    batch_mode,
    counted_backend,
    fit,
    flat_name,
    large_settings_files,
    nested_name,
    peak_demand,
    ray_tasks,
    resolve_settings,
)
from lkdoctor.plan.lenskit2026.shape import ThreadPlan2026
from lkdoctor.plan.line import DialectChoice

_FITTED = ("num_threads", "num_backend_threads", "num_batch_jobs")


# --- levels and the suggestion ---------------------------------------------------------------


def plan_levels_2026(res: Resolution, cpus: int, node_cpus: int) -> list[PlanLevel]:
    t, b, j = res.threads, res.backend, res.batch_jobs
    counted = counted_backend(b, cpus)
    peak = peak_demand(t, b, j, res.use_ray, cpus, node_cpus)
    if not res.use_ray:
        return [
            PlanLevel(
                level=0,
                processes=1,
                threads=t,
                backend_threads=b,
                demand=peak,
                instances=1,
                counted_backend_threads=counted,
            )
        ]
    tasks = ray_tasks(j, b, node_cpus)
    return [
        PlanLevel(
            level=0,
            processes=tasks,
            threads=t,
            backend_threads=b,
            demand=t * counted,
            instances=1,
            counted_backend_threads=counted,
        ),
        PlanLevel(
            level=1,
            processes=1,
            threads=t,
            backend_threads=b,
            demand=peak,
            instances=tasks,
            counted_backend_threads=counted,
        ),
    ]


def _variable_for(res: Resolution, name: str) -> str:
    """A flat export, unless a file or ``LK_PARALLEL`` sets the field and would beat it."""
    source = res.settings[name].source if name in res.settings else "default"
    if source.upper() == flat_name(name):
        return source  # the same spelling: two spellings of one name would race
    if source in ("default", "derived"):
        spelled = [p.where for p in res.problems if p.where.upper() == flat_name(name)]
        flat = res.flat.get(name)
        return flat[0] if flat is not None else (spelled or [flat_name(name)])[0]
    return nested_name(name)


def suggest_2026(
    res: Resolution, effective: int, node_cpus: int
) -> tuple[dict[str, str], list[str]]:
    """Exports (and unsets) the installed LensKit accepts and that give a plan that fits."""
    fitted = fit(res.threads, res.backend, res.batch_jobs, res.use_ray, effective, node_cpus)
    env = {
        _variable_for(res, name): str(value) for name, value in zip(_FITTED, fitted, strict=True)
    }
    unset: list[str] = []
    for problem in res.problems:
        if problem.kind != "env-invalid" or problem.where in env:
            continue
        name = _field_of(problem.where)
        if problem.equivalent is not None:
            env[problem.where] = problem.equivalent
        elif name in res.settings:
            env[problem.where] = str(int(res.settings[name].value))
        elif name == "num_procs":
            env[problem.where] = "0"
        else:
            unset.append(problem.where)
    return env, unset


def _field_of(variable: str) -> str | None:
    upper = variable.upper()
    for prefix in ("LK_PARALLEL__", "LK_"):
        if upper.startswith(prefix) and upper[len(prefix) :].lower() in FIELD_TYPES:
            return upper[len(prefix) :].lower()
    return None


def applied(environ: Mapping[str, str], env: Mapping[str, str], unset: list[str]) -> dict[str, str]:
    """``environ`` after the suggested exports and unsets."""
    out = {name: value for name, value in environ.items() if name not in unset}
    out.update(env)
    return out


def collect_plan_2026(
    lenskit_cpus: int,
    effective: int,
    environ: Mapping[str, str],
    chosen: DialectChoice,
    *,
    cwd: Path | None = None,
    project_root: Path | None = None,
    ask: bool = True,
    ask_first: bool = False,
    affinity: set[int] | None = None,
) -> ThreadPlan2026:
    """The plan as LensKit 2026 resolves it for ``environ`` in ``cwd`` (default: ours).

    ``ask``: with LensKit's own answer. ``ask_first``: that answer only when a settings file
    is large, and then before the doctor's own resolution, which takes that file's
    ``[parallel]`` table from LensKit's parse instead of parsing it again (without either,
    :func:`~lkdoctor.plan.lenskit2026.ask.start_answer` asks later)."""
    folder = Path(os.getcwd()) if cwd is None else cwd
    cpus, effective = max(lenskit_cpus, 1), max(effective, 1)
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    answer = None
    if ask or (ask_first and large_settings_files(environ, folder, project_root)):
        # LensKit's answer first: its parse of a large settings file serves the doctor too
        pending = ask_in_background(chosen.version, environ, folder, project_root, affinity, True)
        answer = pending.result() if pending is not None else None
    res = resolve_settings(
        environ,
        folder,
        cpus,
        project_root=project_root,
        free_threaded=free_threaded,
        parsed_files=parsed_by_lenskit(answer) if answer is not None else None,
    )
    ncpus = int(res.settings["num_cpus"].value)
    levels = plan_levels_2026(res, ncpus, cpus)
    peak, ratio = ThreadPlan2026.judged(levels, effective)
    suggested, unset = suggest_2026(res, effective, cpus)
    fits_as_is = peak <= effective and not res.fails
    backend_env, backend_problems = backend_settings(environ, cpus)
    mode = batch_mode(res.use_ray, res.batch_jobs)
    plan = ThreadPlan2026(
        inputs=_lk_inputs(environ) | plan_inputs(environ, ()),
        cpu_count=cpus,
        effective=effective,
        levels=levels,
        peak_threads=peak,
        oversubscription=ratio,
        suggested_env=suggested,
        suggested_unset=unset,
        suggestion_fits_as_is=fits_as_is,
        env_problems=backend_problems,
        backend_env=backend_env,
        dialect_reason=chosen.reason,
        lenskit_version=chosen.version,
        settings=res.settings,
        batch_mode=mode,
        demand_model=describe_demand(res, ncpus, cpus),
        project_root=None if res.project_root is None else str(res.project_root),
        settings_files=[str(path) for path in res.files],
        settings_problems=res.problems,
    )
    if answer is not None:
        attach_answer(plan, answer)
    return plan


def _lk_inputs(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in environ.items()
        if name.upper().startswith("LK_") and name.upper() != "LK_LOG_CONFIG"
    }


def describe_demand(res: Resolution, cpus: int, node_cpus: int) -> str:
    t, b, j = res.threads, res.backend, res.batch_jobs
    counted = counted_backend(b, cpus)
    backend = f"{b}" if b >= 1 else f"left alone (counted as {counted}, one per CPU)"
    if res.use_ray:
        tasks = ray_tasks(j, b, node_cpus)
        return (
            f"Ray: {tasks} task(s) at once (num_batch_jobs={j}, each asking {max(b, 1)} of the "
            f"node's {node_cpus} CPUs), each a worker process with a Rayon pool of {t} "
            f"threads and backends of {backend}: {tasks} × {t} × {counted}"
        )
    if j > 1:
        return (
            f"thread pool of {j} batch jobs in one process, sharing the Rayon pool of {t} "
            f"threads, each driving backends of {backend}: max({t} × {counted}, {j} × "
            f"{counted}, ({j} − 1) × {counted} + {t})"
        )
    return (
        f"sequential: the Rayon pool of {t} threads, each of which may drive "
        f"backends of {backend}: {t} × {counted} (LensKit's total_threads)"
    )


__all__ = ["applied", "collect_plan_2026", "suggest_2026"]
