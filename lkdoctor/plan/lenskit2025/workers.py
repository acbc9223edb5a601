"""How LensKit 2025 runs batch work: a process pool of spawned workers whenever the plan's
level 0 has more than one process, the shared-memory manager on Python's default start
method; and how much a batch call at a script's module level matters there."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from lkdoctor.host.lenskit_code import CodeFact, call_fact, call_name, parsed
from lkdoctor.model import BatchMode, Severity, StartMethod, WorkerLevel, Workers
from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025
from lkdoctor.plan.line import BatchFacts

#: What LensKit 2025.x documents and its pool.py does; said when the code cannot be read.
DOCUMENTED_2025_WORKERS = (
    "documented: LensKit 2025.x starts batch workers with spawn on every OS "
    "(lenskit/parallel/pool.py, LensKitMPContext subclasses SpawnContext)"
)


#: multiprocessing's context classes and the start method each one is.
CONTEXT_METHODS = {
    "SpawnContext": "spawn",
    "ForkContext": "fork",
    "ForkServerContext": "forkserver",
}


def worker_context_fact(package: Path) -> CodeFact | None:
    """LensKit 2025's worker context class in ``parallel/pool.py`` and the method it is."""
    path = package / "parallel" / "pool.py"
    tree = parsed(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "LensKitMPContext":
            for base in node.bases:
                if (method := CONTEXT_METHODS.get(call_name(base))) is not None:
                    return CodeFact(
                        method, path, node.lineno, f"class {node.name}({call_name(base)})"
                    )
    return None


def ray_python_floor_fact(package: Path) -> CodeFact | None:
    """The Python LensKit 2025's ``ray_supported()`` (``parallel/ray.py``) requires for
    ``n_jobs="ray"``: its ``int(minor) < N`` test, N as the value."""
    path = package / "parallel" / "ray.py"
    tree = parsed(path)
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


def batch_workers(plan: ThreadPlan2025, facts: BatchFacts) -> Workers:
    package, default = facts.package, facts.default_start_method
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
        dialect=plan.dialect,
        mode=mode,
        mode_source=f"{set_by}; lenskit/parallel/invoker.py: n_jobs == 1 runs in-process, "
        "else ProcessPoolOpInvoker",
        levels=levels,
        start_methods=methods,
        notes=notes,
    )


def unguarded_call(n_jobs: str | None, workers: Workers) -> tuple[Severity, str]:
    """Spawned workers re-run the script's module level: with a process pool (by the plan
    or an explicit ``n_jobs``) each one fails."""
    pool = bool(workers.levels) and workers.levels[0].mode == BatchMode.PROCESS_POOL
    explicit = n_jobs is not None and n_jobs.isdigit() and int(n_jobs) > 1
    if pool or explicit:
        count = n_jobs if explicit else str(workers.levels[0].workers)
        return Severity.ERROR, (
            f"LensKit {workers.lenskit_version} starts {count} spawned worker processes "
            "here; each re-runs the script and fails"
        )
    return Severity.INFO, "the plan gives 1 process at level 0: no workers start"
