"""Observed versus planned: what each process of the tree may keep busy at its plan level."""

from __future__ import annotations

from lkdoctor.model import Observed, PlanLevel, ThreadPlan


def planned_threads(level: PlanLevel) -> int:
    """Threads one process at ``level`` can keep busy: its threads × their backend threads."""
    backend = level.counted_backend_threads or level.backend_threads
    return level.threads * backend


def with_plan(observed: Observed, plan: ThreadPlan) -> Observed:
    """``observed`` with each process's planned threads (None for helpers and unplanned levels)."""
    by_level = {level.level: planned_threads(level) for level in plan.levels}
    rows = [
        row.model_copy(update={"planned_threads": None if row.helper else by_level.get(row.level)})
        for row in observed.processes
    ]
    return observed.model_copy(update={"processes": rows})
