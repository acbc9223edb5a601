"""Observed versus planned: what each process of the tree may keep busy at its plan level."""

from __future__ import annotations

from collections.abc import Mapping

from lkdoctor.model import Observed, PlanLevel
from lkdoctor.pools.kinds import THREADING_ENV_PREFIXES
from lkdoctor.report import ThreadPlan


def lenskit_environ(
    environ: Mapping[str, str], observed: Observed | None
) -> tuple[dict[str, str], int] | None:
    """``environ`` with the threading variables of the process that ran LensKit in place of
    its own (a wrapper such as ``env LK_NUM_THREADS=1`` changes them on the way), and that
    process's pid; None when its variables were not read (then ``environ`` stands)."""
    if observed is None or observed.lenskit_pid is None:
        return None
    row = next((p for p in observed.processes if p.pid == observed.lenskit_pid), None)
    # an environment that could not be read stays empty: the doctor's own is the better guess
    if row is None or not row.env:
        return None
    kept = {k: v for k, v in environ.items() if not k.startswith(THREADING_ENV_PREFIXES)}
    return {**kept, **row.env}, row.pid


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
