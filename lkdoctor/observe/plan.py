"""Observed versus planned: what each process of the tree may keep busy at its plan level."""

from __future__ import annotations

from lkdoctor.model import Observed, PlanLevel
from lkdoctor.report import ThreadPlan


def planned_threads(level: PlanLevel) -> int:
    """Threads one process at ``level`` can keep busy: the level's demand over its processes
    (2025: threads × backend threads; 2026's thread pool: its peak with every job driving
    backends)."""
    return max(level.demand // max(level.instances, 1), 1)


def with_plan(observed: Observed, plan: ThreadPlan) -> Observed:
    """``observed`` with each process's planned threads (None for helpers and unplanned levels)."""
    by_level = {level.level: planned_threads(level) for level in plan.levels}
    rows = [
        row.model_copy(
            update={
                "planned_threads": None if row.helper or row.wrapper else by_level.get(row.level)
            }
        )
        for row in observed.processes
    ]
    return observed.model_copy(update={"processes": rows})
