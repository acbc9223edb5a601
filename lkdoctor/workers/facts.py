"""The facts of the ``workers`` section: how the installed LensKit runs batch work, from the
plan's LensKit line (``plan/<line>/workers.py``), with Python's default start method, the
GIL, the scripts checked and the workers observed.

The line reads LensKit's own code where it can (the classes and calls that decide the start
method, with file and line), else says the documented fact, named as such. Nothing is
imported from LensKit and no multiprocessing context is created or chosen.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lkdoctor.host.lenskit import installed_lenskit_version, lenskit_package_dirs
from lkdoctor.model import (
    BatchMode,
    Observed,
    PlanBase,
    ScriptCheck,
    StartMethod,
    Workers,
)
from lkdoctor.plan.line import BatchFacts
from lkdoctor.plan.lines import line_of


def python_default_start_method() -> str:
    """multiprocessing's default start method on this Python and OS, without choosing one
    (``get_start_method()`` would fix the default context as a side effect)."""
    chosen = multiprocessing.get_start_method(allow_none=True)
    if chosen is not None:
        return chosen
    return multiprocessing.get_all_start_methods()[0]  # documented: the first is the default


def gil_enabled() -> bool:
    """False on a free-threaded build running without the GIL, as LensKit 2026 tests it."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return bool(is_enabled()) if callable(is_enabled) else True


def _lenskit_package() -> Path | None:
    packages = [p for p in lenskit_package_dirs() if (p / "__init__.py").exists()]
    return packages[0] if packages else None


def scripts_to_check(
    script: Path | None,
    command: Sequence[str],
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[ScriptCheck]:
    """The static check of ``--script`` and of the script ``command`` runs (``-- python
    PATH``, ``python -m``, through ``env`` and ``bash -c``), in ``cwd`` with ``environ``."""
    from lkdoctor.workers.command import script_of
    from lkdoctor.workers.script import check_script

    checks = [check_script(script, "--script")] if script is not None else []
    run = script_of(command, cwd, environ=environ) if command else None
    if run is None or (run.kind == "unknown" and run.path is None):
        if run is not None:
            checks.append(
                ScriptCheck(path="", found_by="command", status="not-checked", detail=run.detail)
            )
        return checks
    if run.path is None:
        checks.append(ScriptCheck(path="", found_by="command", status="inline", detail=run.detail))
    elif script is None or run.path.resolve() != script.resolve():
        checks.append(check_script(run.path, "command"))
    return checks


def collect_workers(
    plan: PlanBase | None,
    script: Path | None = None,
    command: Sequence[str] = (),
    observed: Observed | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Workers:
    """The section's facts for the plan's LensKit line (without a plan: Python's alone),
    with the static check of ``script`` and of the script ``command`` runs, and the workers
    and deaths seen in ``observed`` (``--pid``, ``-- COMMAND``); ``command`` runs in
    ``cwd`` with ``environ`` (default: ours)."""
    default = python_default_start_method()
    gil = gil_enabled()
    facts = BatchFacts(package=_lenskit_package(), default_start_method=default, gil_enabled=gil)
    workers = line_of(plan).batch_workers(plan, facts) if plan is not None else None
    if workers is None:
        workers = Workers(
            mode=BatchMode.UNKNOWN,
            notes=["no LensKit line resolved: how batch work runs is unknown"],
        )
    workers.lenskit_version = plan.lenskit_version if plan is not None else None
    workers.lenskit_version = workers.lenskit_version or installed_lenskit_version()
    workers.python_default_start_method = default
    workers.start_methods.append(
        StartMethod(
            part="python-default",
            method=default,
            source=f"multiprocessing.get_all_start_methods()[0] on Python "
            f"{sys.version_info.major}.{sys.version_info.minor} ({sys.platform})",
        )
    )
    workers.gil_enabled = gil
    workers.scripts = scripts_to_check(script, command, cwd, environ)
    if observed is not None:
        from lkdoctor.workers.observed import command_death, oom_killed_workers, worker_processes

        workers.processes = worker_processes(observed)
        # a spawned worker imports the command's script as __mp_main__: when that script
        # starts processes at module level, every such worker runs it again
        reruns = any(c.found_by == "command" and c.status == "unprotected" for c in workers.scripts)
        for process in workers.processes:
            if process.kind in ("spawn-worker", "lenskit-worker", "forkserver"):
                process.reruns_script = reruns
        death = command_death(observed)
        if death is not None:
            workers.deaths.append(death)
        workers.deaths += oom_killed_workers(observed, workers.processes)
    return workers
