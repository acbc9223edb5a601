"""Thread plan collector: what LensKit will do with the CPUs, level by level."""

from __future__ import annotations

import os
from collections.abc import Mapping

from lkdoctor.model import PlanLevel, ThreadPlan

LK_VARIABLES = ("LK_NUM_PROCS", "LK_NUM_THREADS", "LK_NUM_BACKEND_THREADS", "LK_NUM_CHILD_THREADS")


def level_zero_defaults(cpus: int) -> tuple[int, int, int]:
    """LensKit's level-0 defaults for ``cpus`` CPUs: (processes, threads, backend threads)."""
    processes = min(cpus, 4)
    threads = min(cpus, 8)
    backend = max(min(cpus // threads, 4), 1)
    return processes, threads, backend


def collect_plan(
    lenskit_cpus: int, effective: int, environ: Mapping[str, str] | None = None
) -> ThreadPlan:
    """Resolve LensKit's thread plan with ``lenskit_cpus``; judge it against ``effective``."""
    env = os.environ if environ is None else environ
    inputs = {name: env[name] for name in LK_VARIABLES if env.get(name)}
    processes, threads, backend = level_zero_defaults(lenskit_cpus)
    level0 = PlanLevel(
        level=0,
        processes=processes,
        threads=threads,
        backend_threads=backend,
        demand=threads * backend,
    )
    peak = level0.demand
    return ThreadPlan(
        inputs=inputs,
        cpu_count=lenskit_cpus,
        effective=effective,
        levels=[level0],
        peak_threads=peak,
        oversubscription=round(peak / max(effective, 1), 3),
    )
