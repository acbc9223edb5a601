"""The memory a batch run may use: the cgroup limit (own and ancestors, v1 and v2, the
tightest wins) else the host's available memory, ``/dev/shm``'s size and free space, and
the segments in it whose owner is gone."""

from __future__ import annotations

from pathlib import Path

from lkdoctor.host import cgroup, shm
from lkdoctor.host.proc import LIVE_ROOT
from lkdoctor.model import MemoryBudget, ShmMount, ShmSegment


def _usage_beside(limit_path: Path) -> int | None:
    """What the cgroup whose limit file this is uses now."""
    name = "memory.current" if limit_path.name == "memory.max" else "memory.usage_in_bytes"
    try:
        return int((limit_path.parent / name).read_text().strip())
    except (OSError, ValueError):
        return None


def collect_shm(root: Path = LIVE_ROOT) -> ShmMount:
    mount = shm.shm_mount(root)
    space = shm.shm_space(root)
    return ShmMount(
        path="/dev/shm",
        mounted=mount is not None,
        fstype=mount.fstype if mount else None,
        mount_source=mount.source if mount else None,
        size_bytes=space[0] if space else None,
        free_bytes=space[1] if space else None,
        used_bytes=space[2] if space else None,
    )


def collect_memory(
    root: Path = LIVE_ROOT, pid: int | None = None, view: cgroup.CgroupView | None = None
) -> MemoryBudget:
    """The section's memory part for this process (or ``pid``, whose cgroup counts);
    ``view``: its cgroup as already discovered."""
    view = cgroup.discover(root, pid) if view is None else view
    limit = cgroup.read_memory_limit(view, root)
    meminfo = shm.read_meminfo(root)
    notes = [*view.notes, *([limit.note] if limit.note else [])]
    budget = MemoryBudget(
        limit_bytes=limit.value if isinstance(limit.value, int) else None,
        limit_path=str(limit.path) if limit.path and isinstance(limit.value, int) else None,
        host_total_bytes=meminfo.get("MemTotal"),
        host_available_bytes=meminfo.get("MemAvailable"),
        notes=notes,
    )
    if budget.limit_bytes is not None and limit.path is not None:
        budget.usage_bytes = _usage_beside(limit.path)
        budget.budget_bytes = budget.limit_bytes - (budget.usage_bytes or 0)
        budget.budget_source = f"{limit.path} less what the cgroup uses now"
        if budget.host_available_bytes is not None and (
            budget.host_available_bytes < budget.budget_bytes
        ):
            budget.budget_bytes = budget.host_available_bytes
            budget.budget_source = "MemAvailable of /proc/meminfo (below the cgroup's limit)"
    elif budget.host_available_bytes is not None:
        budget.budget_bytes = budget.host_available_bytes
        budget.budget_source = "MemAvailable of /proc/meminfo (no cgroup memory limit)"
    budget.shm = collect_shm(root)
    budget.leftovers = [
        ShmSegment(
            name=s.name,
            size_bytes=s.size_bytes,
            age_s=round(s.age_s, 1),
            owner_pid=s.owner_pid,
            kind="torch" if s.kind == "torch" else "lenskit",
        )
        for s in shm.orphan_segments(root)
    ]
    return budget
