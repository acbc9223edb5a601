"""The thread plan in LensKit 2026's dialect: settings with sources, demand, a fitting suggestion.

The model of what runs at once is in :mod:`lkdoctor.plan.lenskit2026.settings`'s docstring.
LensKit's own answer comes from a child process (``child.py``) that runs
LensKit's own settings code in the diagnosed folder and environment, so the doctor's
process imports nothing of LensKit's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lkdoctor.host.lenskit import lenskit_package_dirs
from lkdoctor.model import LensKit2026Settings, PlanLevel, ThreadPlan2026
from lkdoctor.plan.backends import backend_settings, plan_inputs
from lkdoctor.plan.dialect import DialectChoice
from lkdoctor.plan.lenskit2026.settings import (
    FIELD_TYPES,
    REPORTED,
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
from lkdoctor.plan.levels import oversubscription

CHILD_SCRIPT = Path(__file__).with_name("child.py")
#: Hard limit for LensKit's own answer (it imports pydantic-settings, not torch).
CHILD_TIMEOUT = 30.0
_FITTED = ("num_threads", "num_backend_threads", "num_batch_jobs")


@dataclass(frozen=True)
class ChildAnswer:
    """What LensKit's own code printed (``data``), or why there is nothing (``note``)."""

    data: dict[str, Any] | None
    note: str | None = None


class PendingAnswer:
    """LensKit's own answer, running in a child process while the doctor goes on."""

    def __init__(
        self,
        environ: Mapping[str, str],
        cwd: Path,
        project_root: Path | None = None,
        python: str | None = None,
        timeout: float = CHILD_TIMEOUT,
        affinity: set[int] | None = None,
        parsed_files: bool = False,
    ) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        command = [python or sys.executable, "-P", str(CHILD_SCRIPT)]
        if affinity:
            command.append("--affinity=" + ",".join(map(str, sorted(affinity))))
        if parsed_files:  # what LensKit's parse of each settings file gave, too
            command.append("--parsed-files")
        if project_root is not None:
            command.append(str(project_root))
        self.process: subprocess.Popen[str] | None = None
        self.failed: ChildAnswer | None = None
        try:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=dict(environ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as exc:
            self.failed = ChildAnswer(None, f"could not run {command[0]}: {exc}")

    def result(self) -> ChildAnswer:
        """Wait (until the deadline, then kill the child) for the answer; never raises."""
        if self.process is None:
            return self.failed or ChildAnswer(None, "LensKit's settings code did not start")
        try:
            out, err = self.process.communicate(timeout=max(self.deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return ChildAnswer(
                None, f"LensKit's settings code did not answer within {self.timeout:.0f} s"
            )
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            tail = (err.strip().splitlines() or ["no output"])[-1]
            code = self.process.returncode
            return ChildAnswer(None, f"LensKit's settings code failed (exit {code}): {tail}")
        try:
            data = json.loads(lines[-1])
        except ValueError:
            return ChildAnswer(None, "LensKit's settings code printed something that is not JSON")
        return ChildAnswer(data if isinstance(data, dict) else None)


def ask_lenskit(
    environ: Mapping[str, str],
    cwd: Path,
    project_root: Path | None = None,
    python: str | None = None,
    timeout: float = CHILD_TIMEOUT,
) -> ChildAnswer:
    """Run LensKit's settings code in a child process with ``environ`` in ``cwd``; never raises."""
    return PendingAnswer(environ, cwd, project_root, python, timeout).result()


def attach_answer(plan: ThreadPlan2026, answer: ChildAnswer) -> None:
    """Put LensKit's own answer into the plan."""
    plan.lenskit_resolved = lenskit_resolved(answer)
    plan.lenskit_note = failure_message(answer)


def start_answer(
    plan: ThreadPlan2026,
    environ: Mapping[str, str],
    cwd: Path | None,
    project_root: Path | None,
    affinity: set[int] | None = None,
) -> PendingAnswer | None:
    """Start asking the installed LensKit (None when there is none to ask, or when the plan
    already holds its answer); the answer is put in with :func:`attach_answer`.
    ``affinity``: the CPUs of the diagnosed process when it is not this one (``--pid``)."""
    if plan.lenskit_resolved is not None or plan.lenskit_note is not None:
        return None
    return _ask(plan.lenskit_version, environ, cwd, project_root, affinity)


def _ask(
    version: str | None,
    environ: Mapping[str, str],
    cwd: Path | None,
    project_root: Path | None,
    affinity: set[int] | None = None,
    parsed_files: bool = False,
) -> PendingAnswer | None:
    if version is None or not lenskit_package_dirs():
        return None
    folder = Path(os.getcwd()) if cwd is None else cwd
    return PendingAnswer(
        environ, folder, project_root, affinity=affinity, parsed_files=parsed_files
    )


def parsed_by_lenskit(answer: ChildAnswer) -> dict[str, dict[str, Any]]:
    """What LensKit's own parse of each settings file gave, by real path."""
    parsed = answer.data.get("parsed_files") if answer.data is not None else None
    if not isinstance(parsed, dict):
        return {}
    return {path: entry for path, entry in parsed.items() if isinstance(entry, dict)}


def lenskit_resolved(answer: ChildAnswer) -> LensKit2026Settings | None:
    if answer.data is None or not answer.data.get("ok"):
        return None
    par = answer.data["parallel"]
    return LensKit2026Settings(**{name: par[name] for name in REPORTED})


def failure_message(answer: ChildAnswer) -> str | None:
    """LensKit's own error message when its settings do not load."""
    if answer.data is None or answer.data.get("ok"):
        return answer.note
    error = f"{answer.data.get('error')}: {answer.data.get('message')}"
    if answer.data.get("error") in ("ImportError", "ModuleNotFoundError", "LookupError"):
        return f"LensKit's settings code could not be run: {error}"
    return f"LensKit failed at {answer.data.get('stage')}: {error}"


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
    :func:`start_answer` asks later)."""
    folder = Path(os.getcwd()) if cwd is None else cwd
    cpus, effective = max(lenskit_cpus, 1), max(effective, 1)
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    answer = None
    if ask or (ask_first and large_settings_files(environ, folder, project_root)):
        # LensKit's answer first: its parse of a large settings file serves the doctor too
        pending = _ask(chosen.version, environ, folder, project_root, affinity, True)
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
    peak = max(level.demand for level in levels)
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
        oversubscription=oversubscription(peak, effective),
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


__all__ = ["ChildAnswer", "applied", "ask_lenskit", "collect_plan_2026", "suggest_2026"]
