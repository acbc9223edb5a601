"""CPU budget collector: how many CPUs this process may really use, and why.

Readers take a ``root`` folder (``/`` on a live system, a fixture tree in tests)
and an environment mapping, so every source can be tested without the host.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from lkdoctor.model import CpuBudget, CpuLimit

LIVE_ROOT = Path("/")


def parse_cpu_list(text: str) -> set[int]:
    """Parse a kernel CPU list such as ``0-3,8,10-11``; raise ValueError if malformed."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            first, last = int(lo), int(hi)
            if first > last or first < 0:
                raise ValueError(f"bad CPU range {part!r}")
            cpus.update(range(first, last + 1))
        else:
            cpu = int(part)
            if cpu < 0:
                raise ValueError(f"bad CPU {part!r}")
            cpus.add(cpu)
    return cpus


def read_affinity(root: Path = LIVE_ROOT, pid: int | None = None) -> tuple[int | None, str]:
    """CPUs in the affinity mask: ``sched_getaffinity`` live, ``Cpus_allowed_list`` otherwise."""
    if root == LIVE_ROOT and hasattr(os, "sched_getaffinity"):
        try:
            return len(os.sched_getaffinity(pid or 0)), f"os.sched_getaffinity({pid or 0})"
        except OSError:
            pass
    status = root / "proc" / (str(pid) if pid else "self") / "status"
    try:
        for line in status.read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return len(parse_cpu_list(line.split(":", 1)[1])), f"{status} Cpus_allowed_list"
    except (OSError, ValueError):
        pass
    return None, str(status)


def lenskit_effective_cpu_count(affinity: int | None, logical: int | None) -> int:
    """LensKit's ``effective_cpu_count()``: process_cpu_count, else affinity, else cpu_count."""
    process_cpu_count = getattr(os, "process_cpu_count", None)
    if process_cpu_count is not None and affinity is None:
        count = process_cpu_count()
        if count:
            return int(count)
    if affinity:
        return affinity
    return logical or 1


def collect_cpu(
    root: Path = LIVE_ROOT,
    environ: Mapping[str, str] | None = None,
    pid: int | None = None,
) -> CpuBudget:
    """Collect every source that limits the CPUs of process ``pid`` (default: this one)."""
    del environ  # batch schedulers and Python overrides are read in a later step
    logical = os.cpu_count() or 1
    limits = [CpuLimit(source="logical", value=logical, detail="os.cpu_count()", limits=False)]
    affinity, affinity_detail = read_affinity(root, pid)
    if affinity is not None:
        limits.append(CpuLimit(source="affinity", value=affinity, detail=affinity_detail))

    binding = [limit for limit in limits if limit.limits and limit.value is not None]
    effective = logical
    if binding:
        tightest = min(binding, key=lambda limit: float(limit.value or 0))
        tightest.binding = True
        effective = max(1, int(tightest.value or 1))
    return CpuBudget(
        logical=logical,
        physical=None,
        effective=effective,
        lenskit_effective=lenskit_effective_cpu_count(affinity, logical),
        limits=limits,
    )
