"""The facts of the ``workers`` section: how the installed LensKit runs batch work.

Read from LensKit's own code where it can be (the classes and calls that decide the start
method, with file and line), else the documented fact, named as such. Nothing is imported
from LensKit and no multiprocessing context is created or chosen.
"""

from __future__ import annotations

import ast
import multiprocessing
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lkdoctor.host.lenskit import installed_lenskit_version, lenskit_package_dirs
from lkdoctor.model import (
    BatchMode,
    Observed,
    PlanBase,
    ScriptCheck,
    StartMethod,
    ThreadPlan2025,
    ThreadPlan2026,
    WorkerLevel,
    Workers,
)
from lkdoctor.plan.lenskit2026.settings import ray_tasks

#: What LensKit 2025.x documents and its pool.py does; said when the code cannot be read.
DOCUMENTED_2025_WORKERS = (
    "documented: LensKit 2025.x starts batch workers with spawn on every OS "
    "(lenskit/parallel/pool.py, LensKitMPContext subclasses SpawnContext)"
)


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


@dataclass(frozen=True)
class CodeFact:
    """A line of LensKit's code that decides something, and what it decides."""

    value: str
    path: Path
    line: int
    text: str

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def _parsed(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


#: multiprocessing's context classes and the start method each one is.
CONTEXT_METHODS = {
    "SpawnContext": "spawn",
    "ForkContext": "fork",
    "ForkServerContext": "forkserver",
}


def worker_context_fact(package: Path) -> CodeFact | None:
    """LensKit 2025's worker context class in ``parallel/pool.py`` and the method it is."""
    path = package / "parallel" / "pool.py"
    tree = _parsed(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "LensKitMPContext":
            for base in node.bases:
                if (method := CONTEXT_METHODS.get(_name(base))) is not None:
                    return CodeFact(method, path, node.lineno, f"class {node.name}({_name(base)})")
    return None


def call_fact(path: Path, callee: str) -> CodeFact | None:
    """The first call of ``callee`` in ``path``; its value says whether it passes a context."""
    tree = _parsed(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == callee:
            takes_ctx = bool(node.args) or any(k.arg == "ctx" for k in node.keywords)
            return CodeFact("ctx" if takes_ctx else "default", path, node.lineno, f"{callee}()")
    return None


def _lenskit_package() -> Path | None:
    packages = [p for p in lenskit_package_dirs() if (p / "__init__.py").exists()]
    return packages[0] if packages else None


def ray_python_floor_fact(package: Path) -> CodeFact | None:
    """The Python LensKit 2025's ``ray_supported()`` (``parallel/ray.py``) requires for
    ``n_jobs="ray"``: its ``int(minor) < N`` test, N as the value."""
    path = package / "parallel" / "ray.py"
    tree = _parsed(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "ray_supported":
            for test in ast.walk(node):
                if (
                    isinstance(test, ast.Compare)
                    and isinstance(test.left, ast.Call)
                    and [ast.unparse(arg) for arg in test.left.args] == ["minor"]
                    and isinstance(test.ops[0], ast.Lt)
                    and isinstance(test.comparators[0], ast.Constant)
                    and isinstance(test.comparators[0].value, int)
                ):
                    minor = test.comparators[0].value
                    return CodeFact(str(minor), path, test.lineno, ast.unparse(test))
    return None


def ray_note_2025(package: Path | None) -> str | None:
    """Whether ``n_jobs="ray"`` can run here, as LensKit 2025's own test decides."""
    fact = ray_python_floor_fact(package) if package is not None else None
    if fact is None:
        return None
    here = sys.version_info[:2]
    if here < (3, int(fact.value)):
        return (
            f'n_jobs="ray" raises RuntimeError("ray backend not available") on Python '
            f"{here[0]}.{here[1]}: LensKit's ray_supported() wants 3.{fact.value}+ ({fact.source})"
        )
    return (
        f'n_jobs="ray" runs batch work on Ray on this Python ({fact.source}): the model goes '
        "into Ray's object store once, which lives in /dev/shm only when Ray's store fits there"
    )


def _facts_2025(plan: ThreadPlan2025, package: Path | None, default: str) -> Workers:
    levels_plan = plan.lenskit_resolved or plan.levels
    context = worker_context_fact(package) if package is not None else None
    worker_method = context.value if context is not None else "spawn"
    worker_source = context.source if context is not None else DOCUMENTED_2025_WORKERS
    listed = len(plan.inputs.get("LK_NUM_PROCS", "").split(","))
    set_by = "LK_NUM_PROCS" if "LK_NUM_PROCS" in plan.inputs else "default min(CPUs, 4)"

    def count_source(level: int) -> str:
        if level == 0:
            return f"{set_by} (an explicit n_jobs= overrides it)"
        if "LK_NUM_PROCS" in plan.inputs and level < listed:
            return f"LK_NUM_PROCS item {level}"
        return f"1: LK_NUM_PROCS lists no level {level}"

    levels = [
        WorkerLevel(
            level=level.level,
            mode=BatchMode.PROCESS_POOL if level.processes > 1 else BatchMode.IN_PROCESS,
            workers=level.processes,
            start_method=worker_method if level.processes > 1 else None,
            source=count_source(level.level),
        )
        for level in levels_plan
    ]
    methods = [StartMethod(part="batch-workers", method=worker_method, source=worker_source)]
    manager = (
        call_fact(package / "parallel" / "pool.py", "SharedMemoryManager") if package else None
    )
    if manager is not None and manager.value == "default":
        methods.append(
            StartMethod(
                part="shared-memory-manager",
                method=default,
                source=f"{manager.source} (no context given: Python's default start method)",
            )
        )
    elif manager is None:
        methods.append(
            StartMethod(
                part="shared-memory-manager",
                method=default,
                source="documented: SharedMemoryManager() uses Python's default start method",
            )
        )
    mode = levels[0].mode if levels else BatchMode.UNKNOWN
    notes = []
    if mode == BatchMode.PROCESS_POOL:
        notes.append(
            f"lenskit.batch runs in a process pool of {levels[0].workers} {worker_method} "
            "workers: each re-imports the script's main module, so module-level work must "
            'be under if __name__ == "__main__":'
        )
    else:
        notes.append("lenskit.batch runs in this process (1 process at level 0): no workers")
    ray_note = ray_note_2025(package)
    if ray_note is not None:
        notes.append(ray_note)
    return Workers(
        dialect="2025",
        mode=mode,
        mode_source=f"{set_by}; lenskit/parallel/invoker.py: n_jobs == 1 runs in-process, "
        "else ProcessPoolOpInvoker",
        levels=levels,
        start_methods=methods,
        notes=notes,
    )


def thread_pool_fact(package: Path) -> CodeFact | None:
    """Where LensKit 2026's batch runner makes its thread pool."""
    path = package / "batch" / "_runner.py"
    tree = _parsed(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == "ThreadPoolExecutor":
            return CodeFact("thread", path, node.lineno, "ThreadPoolExecutor(...)")
    return None


def _facts_2026(plan: ThreadPlan2026, package: Path | None, gil: bool) -> Workers:
    resolved = plan.lenskit_resolved
    jobs_setting = plan.settings.get("num_batch_jobs")
    ray_setting = plan.settings.get("use_ray")
    jobs = resolved.num_batch_jobs if resolved else int(jobs_setting.value) if jobs_setting else 1
    use_ray = resolved.use_ray if resolved else bool(ray_setting.value) if ray_setting else False
    jobs_source = f"num_batch_jobs from {jobs_setting.source}" if jobs_setting else "num_batch_jobs"
    ray_source = f"use_ray from {ray_setting.source}" if ray_setting else "use_ray"
    pool = thread_pool_fact(package) if package is not None else None
    count = jobs
    if use_ray:
        mode, method = BatchMode.RAY, "ray"
        source = "lenskit/batch/_ray.py: ray.remote tasks on Ray's own worker processes"
        backend_setting = plan.settings.get("num_backend_threads")
        backend = (
            resolved.num_backend_threads
            if resolved
            else int(backend_setting.value)
            if backend_setting
            else 1
        )
        cpus_setting = plan.settings.get("num_cpus")
        cpus = resolved.num_cpus if resolved else int(cpus_setting.value) if cpus_setting else 1
        # lenskit/batch/_ray.py: TaskLimiter(n_jobs, or num_cpus when n_jobs <= 0) on a node
        # of ray.init(num_cpus=effective_cpu_count()), each task num_cpus=backend threads
        count = ray_tasks(jobs if jobs > 0 else cpus, backend, plan.cpu_count)
        jobs_source += (
            f"; Ray runs {count} task(s) at once, each in a Ray worker process: "
            f"min(num_batch_jobs, node CPUs {plan.cpu_count} // task CPUs "
            f"(num_backend_threads) {max(backend, 1)})"
        )
    elif jobs > 1:
        mode, method = BatchMode.THREAD_POOL, "thread"
        source = pool.source if pool else "documented: LensKit 2026 batch uses a thread pool"
    else:
        mode, method = BatchMode.IN_PROCESS, "thread"
        source = "lenskit/batch/_runner.py: n_jobs == 1 runs sequentially in this thread"
    notes = [
        "LensKit 2026 has no process pool: batch work runs on "
        + {
            BatchMode.RAY: "Ray tasks (Ray starts and imports its own workers: no guard needed)",
            BatchMode.THREAD_POOL: f"{jobs} threads of this process",
            BatchMode.IN_PROCESS: "this thread, one query at a time",
        }[mode]
    ]
    if mode == BatchMode.THREAD_POOL and gil:
        notes.append(
            f"batch jobs = {jobs} on a Python with the GIL: LensKit logs 'using thread pool "
            "but Python GIL is enabled, throughput will suffer'; the threads take turns "
            "running Python code"
        )
    return Workers(
        dialect="2026",
        mode=mode,
        mode_source=f"{ray_source}; {jobs_source}",
        levels=[
            WorkerLevel(
                level=0,
                mode=mode,
                workers=count,
                start_method=method if mode != BatchMode.IN_PROCESS else None,
                source=jobs_source,
            )
        ],
        start_methods=[StartMethod(part="batch-workers", method=method, source=source)],
        notes=notes,
    )


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
    package = _lenskit_package()
    if isinstance(plan, ThreadPlan2025):
        workers = _facts_2025(plan, package, default)
    elif isinstance(plan, ThreadPlan2026):
        workers = _facts_2026(plan, package, gil)
    else:
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
