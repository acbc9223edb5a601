"""How LensKit 2026 runs batch work: no process pool; one thread, a thread pool of batch
jobs, or Ray tasks; and why a batch call at a script's module level is harmless there."""

from __future__ import annotations

import ast
from pathlib import Path

from lkdoctor.host.lenskit_code import CodeFact, call_name, parsed
from lkdoctor.model import BatchMode, Severity, StartMethod, WorkerLevel, Workers
from lkdoctor.plan.lenskit2026.settings import ray_tasks
from lkdoctor.plan.lenskit2026.shape import ThreadPlan2026
from lkdoctor.plan.line import BatchFacts


def thread_pool_fact(package: Path) -> CodeFact | None:
    """Where LensKit 2026's batch runner makes its thread pool."""
    path = package / "batch" / "_runner.py"
    tree = parsed(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and call_name(node.func) == "ThreadPoolExecutor":
            return CodeFact("thread", path, node.lineno, "ThreadPoolExecutor(...)")
    return None


def batch_workers(plan: ThreadPlan2026, facts: BatchFacts) -> Workers:
    package, gil = facts.package, facts.gil_enabled
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
        dialect=plan.dialect,
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


def unguarded_call(n_jobs: str | None, workers: Workers) -> tuple[Severity, str]:
    """Threads and Ray tasks do not re-run the script: the guard is good practice only."""
    how = "Ray" if workers.mode == BatchMode.RAY else "threads"
    return Severity.INFO, (
        f"LensKit {workers.lenskit_version} runs batch work on {how}: the guard is "
        "not needed for threads or Ray (it is still good practice)"
    )
