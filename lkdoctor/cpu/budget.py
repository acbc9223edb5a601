"""CPU budget collector: how many CPUs the diagnosed process may really use, and why.

The collector takes the :class:`~lkdoctor.target.Target` (its environment, affinity and
cgroup, read once); the readers of the other sources take a ``root`` folder (``/`` on a
live system, a fixture tree in tests), so every source can be tested without the host. A
source that cannot be read becomes a row whose ``detail`` says why; nothing here
raises on malformed files or variables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from lkdoctor.collected import guard
from lkdoctor.host import cgroup as cgroup
from lkdoctor.host.proc import LIVE_ROOT, parse_cpu_list
from lkdoctor.host.undecodable import cut
from lkdoctor.model import CgroupInfo, CpuBudget, CpuLimit, EnvProblem, Section
from lkdoctor.target import Target

#: Sources that bound the CPUs (the rest are informational).
BINDING_SOURCES = (
    "affinity",
    "cgroup-cpuset",
    "cgroup-quota",
    "python-cpu-count",
    "slurm",
    "pbs",
    "lsf",
    "sge",
)

POSITIVE_INT = "a whole number of CPUs, 1 or more (e.g. 4)"


# --- host ---------------------------------------------------------------------------------


def read_logical(root: Path = LIVE_ROOT) -> tuple[int, str]:
    """Online logical CPUs: ``os.cpu_count()`` live, ``/sys/.../cpu/online`` in a fixture."""
    if root != LIVE_ROOT:
        online = root / "sys" / "devices" / "system" / "cpu" / "online"
        try:
            count = len(parse_cpu_list(online.read_text()))
            if count:
                return count, str(online)
        except (OSError, ValueError):
            pass
    return os.cpu_count() or 1, "os.cpu_count()"


def read_physical(root: Path = LIVE_ROOT) -> tuple[int | None, str]:
    """Physical cores: psutil live, distinct (package, core) pairs of ``/proc/cpuinfo`` else."""
    if root == LIVE_ROOT:
        try:
            import psutil

            count = psutil.cpu_count(logical=False)
        except Exception as exc:  # psutil missing or failing is informational only
            return None, f"psutil.cpu_count(logical=False) failed: {exc}"
        return (int(count) if count else None), "psutil.cpu_count(logical=False)"
    cpuinfo = root / "proc" / "cpuinfo"
    cores: set[tuple[str, str]] = set()
    package = ""
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "physical id":
                package = value.strip()
            elif key.strip() == "core id":
                cores.add((package, value.strip()))
    except OSError:
        return None, f"{cpuinfo} is not readable"
    return (len(cores) or None), str(cpuinfo)


# --- environment --------------------------------------------------------------------------


def env_positive_int(
    environ: Mapping[str, str],
    name: str,
    problems: list[EnvProblem],
    consequence: str = "ignored",
) -> int | None:
    """``environ[name]`` as an int ≥ 1; None when unset/empty; a problem when malformed."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value >= 1:
        return value
    problems.append(
        EnvProblem(variable=name, value=cut(raw), expected=POSITIVE_INT, consequence=consequence)
    )
    return None


def python_cpu_count_row(
    environ: Mapping[str, str], problems: list[EnvProblem], pid: int | None
) -> CpuLimit:
    """``PYTHON_CPU_COUNT`` / ``-X cpu_count`` (the option only for this process)."""
    applies = "" if sys.version_info >= (3, 13) else " (only Python 3.13+ applies it)"
    xoption = sys._xoptions.get("cpu_count") if pid is None else None
    if isinstance(xoption, str) and xoption != "default":
        if xoption.isdigit() and int(xoption) >= 1:
            return CpuLimit(
                source="python-cpu-count", value=int(xoption), detail="-X cpu_count" + applies
            )
        problems.append(
            EnvProblem(
                variable="-X cpu_count",
                value=xoption,
                expected=POSITIVE_INT + " or 'default'",
                consequence="ignored",
            )
        )
    raw = environ.get("PYTHON_CPU_COUNT", "")
    if raw.strip() == "default":
        return CpuLimit(source="python-cpu-count", value=None, detail="PYTHON_CPU_COUNT=default")
    value = env_positive_int(
        environ,
        "PYTHON_CPU_COUNT",
        problems,
        "Python 3.13+ refuses to start with it; lkdoctor ignores it",
    )
    if value is None:
        return CpuLimit(
            source="python-cpu-count", value=None, detail="PYTHON_CPU_COUNT not set" + applies
        )
    return CpuLimit(source="python-cpu-count", value=value, detail="PYTHON_CPU_COUNT" + applies)


def slurm_row(environ: Mapping[str, str], problems: list[EnvProblem]) -> CpuLimit:
    """``SLURM_CPUS_PER_TASK``; else ``SLURM_CPUS_ON_NODE`` on a one-node job."""
    per_task = env_positive_int(environ, "SLURM_CPUS_PER_TASK", problems)
    if per_task is not None:
        return CpuLimit(source="slurm", value=per_task, detail="SLURM_CPUS_PER_TASK")
    on_node = env_positive_int(environ, "SLURM_CPUS_ON_NODE", problems)
    nodes = env_positive_int(environ, "SLURM_JOB_NUM_NODES", problems)
    if on_node is None:
        return CpuLimit(source="slurm", value=None, detail="no SLURM_CPUS_PER_TASK/_ON_NODE")
    if nodes != 1:
        why = "is not set" if nodes is None else f"is {nodes}"
        return CpuLimit(
            source="slurm",
            value=None,
            detail=f"SLURM_CPUS_ON_NODE={on_node} not used: SLURM_JOB_NUM_NODES {why}, not 1",
        )
    return CpuLimit(
        source="slurm", value=on_node, detail="SLURM_CPUS_ON_NODE (SLURM_JOB_NUM_NODES=1)"
    )


def scheduler_row(
    source: str, names: tuple[str, ...], environ: Mapping[str, str], problems: list[EnvProblem]
) -> CpuLimit:
    """The first valid variable of ``names`` (PBS, LSF, SGE)."""
    for name in names:
        value = env_positive_int(environ, name, problems)
        if value is not None:
            return CpuLimit(source=source, value=value, detail=name)
    return CpuLimit(source=source, value=None, detail=" / ".join(names) + " not set")


# --- cgroups ------------------------------------------------------------------------------


def _cgroup_path(view: cgroup.CgroupView) -> str | None:
    """The own cgroup path of the cpu controller (v1), else of the v2 hierarchy."""
    for membership in view.memberships:
        if "cpu" in membership.controllers:
            return membership.path
    return next((m.path for m in view.memberships if m.unified), None)


def collect_cgroup(target: Target) -> tuple[CgroupInfo, CpuLimit, CpuLimit]:
    """CgroupInfo plus the ``cgroup-cpuset`` and ``cgroup-quota`` rows of ``target``'s cgroup
    (the exception its discovery raised, when it failed)."""
    view, root = target.cgroup, target.root
    if view is None:
        raise target.cgroup_error or ValueError("the cgroup was not read")
    quota = cgroup.read_quota(view, root)
    cpuset = cgroup.read_cpuset(view, root)
    memory = cgroup.read_memory_limit(view, root)
    notes = [*view.notes, *(r.note for r in (quota, cpuset, memory) if r.note)]
    info = CgroupInfo(
        version=view.version,
        path=_cgroup_path(view),
        quota=quota.value if isinstance(quota.value, float) else None,
        quota_path=str(quota.path) if quota.path else None,
        cpuset=cpuset.value if isinstance(cpuset.value, str) else None,
        cpuset_path=str(cpuset.path) if cpuset.path else None,
        memory_limit_bytes=memory.value if isinstance(memory.value, int) else None,
        memory_path=str(memory.path) if memory.path else None,
        notes=notes,
    )
    return info, _cpuset_row(info, cpuset.note), _quota_row(info, quota.note)


def _cpuset_row(info: CgroupInfo, note: str) -> CpuLimit:
    if info.cpuset is None:
        why = note or f"no cpuset controller found (cgroup {info.version})"
        return CpuLimit(source="cgroup-cpuset", value=None, detail=why)
    try:
        count = len(parse_cpu_list(info.cpuset))
    except ValueError:
        return CpuLimit(
            source="cgroup-cpuset",
            value=None,
            detail=f"{info.cpuset_path}: unreadable CPU list {info.cpuset!r}",
        )
    return CpuLimit(
        source="cgroup-cpuset",
        value=count or None,
        detail=f"{info.cpuset_path} ({info.cpuset})",
    )


def _quota_row(info: CgroupInfo, note: str) -> CpuLimit:
    if info.quota is None:
        why = "no CPU quota on the cgroup or its ancestors"
        if info.version == "none":
            why = "no cgroup mounts found"
        return CpuLimit(source="cgroup-quota", value=None, detail=f"{why}; {note}" if note else why)
    counted = cgroup.quota_cpus(info.quota)
    detail = f"{info.quota_path} (counts as {counted})"
    return CpuLimit(
        source="cgroup-quota",
        value=round(info.quota, 4),
        detail=f"{detail}; {note}" if note else detail,
    )


# --- cross-checks -------------------------------------------------------------------------


def rust_row(root: Path, pid: int | None) -> CpuLimit:
    """The probe's ``available_parallelism()``: what Rust (and Rayon's default) sees here."""
    if pid is not None or root != LIVE_ROOT:
        return CpuLimit(
            source="rust", value=None, detail="cross-checks this process only", limits=False
        )
    from lkdoctor._native import load_probe

    probe, error = load_probe()
    if probe is None:
        return CpuLimit(source="rust", value=None, detail=error or "no probe", limits=False)
    return CpuLimit(
        source="rust",
        value=probe.available_parallelism(),
        detail="std::thread::available_parallelism() (probe)",
        limits=False,
    )


def counted_cpus(limit: CpuLimit) -> int | None:
    """What a row allows in whole CPUs (a quota counts ``max(1, floor(q))``)."""
    if limit.value is None:
        return None
    if limit.source == "cgroup-quota":
        return cgroup.quota_cpus(float(limit.value))
    return max(1, int(limit.value))


def lenskit_effective_cpu_count(
    affinity: int | None,
    logical: int | None,
    python_cpu_count: int | None = None,
    has_process_cpu_count: bool = sys.version_info >= (3, 13),
) -> int:
    """LensKit's ``effective_cpu_count()``, recomputed from the collected data.

    ``os.process_cpu_count()`` (3.13+: the ``PYTHON_CPU_COUNT`` override, else the
    affinity), else ``len(os.sched_getaffinity(0))``, else ``os.cpu_count()``, else 1.
    """
    if has_process_cpu_count and python_cpu_count:
        return python_cpu_count
    return affinity or logical or 1


def _row(source: str, reader: Callable[[], CpuLimit]) -> CpuLimit:
    """One source's row; a source that fails is a row that says why (the others still count)."""
    read = guard(Section.CPU, reader)
    if read.value is not None:
        return read.value
    return CpuLimit(source=source, value=None, detail=f"could not read: {read.errors[0].message}")


def _cgroup_rows(target: Target) -> tuple[CgroupInfo, CpuLimit, CpuLimit]:
    """``collect_cgroup``, or rows that say why: discovery must never take the section down."""
    read = guard(Section.CPU, lambda: collect_cgroup(target))
    if read.value is not None:
        return read.value
    info = CgroupInfo(version="none", notes=[read.errors[0].message])
    return (
        info,
        CpuLimit(source="cgroup-cpuset", value=None, detail=info.notes[0]),
        CpuLimit(source="cgroup-quota", value=None, detail=info.notes[0]),
    )


def collect_cpu(target: Target) -> CpuBudget:
    """Collect every source that limits the CPUs of the diagnosed process, with its
    environment, affinity and cgroup as ``target`` read them."""
    root, pid, env = target.root, target.pid, target.environ
    problems: list[EnvProblem] = []
    logical, logical_detail = read_logical(root)
    affinity = len(target.affinity) if target.affinity is not None else None
    affinity_detail = target.affinity_source
    info, cpuset_row, quota_row = _cgroup_rows(target)
    physical, physical_detail = read_physical(root)
    python_row = _row("python-cpu-count", lambda: python_cpu_count_row(env, problems, pid))
    limits = [
        CpuLimit(source="logical", value=logical, detail=logical_detail, limits=False),
        CpuLimit(source="affinity", value=affinity, detail=affinity_detail),
        cpuset_row,
        quota_row,
        python_row,
        _row("slurm", lambda: slurm_row(env, problems)),
        _row("pbs", lambda: scheduler_row("pbs", ("PBS_NUM_PPN", "NCPUS"), env, problems)),
        _row("lsf", lambda: scheduler_row("lsf", ("LSB_DJOB_NUMPROC",), env, problems)),
        _row("sge", lambda: scheduler_row("sge", ("NSLOTS",), env, problems)),
        _row("rust", lambda: rust_row(root, pid)),
        CpuLimit(source="physical", value=physical, detail=physical_detail, limits=False),
    ]
    effective = mark_binding(limits, logical)
    python_count = python_row.value if isinstance(python_row.value, int) else None
    return CpuBudget(
        logical=logical,
        physical=physical,
        effective=effective,
        lenskit_effective=lenskit_effective_cpu_count(affinity, logical, python_count),
        limits=limits,
        cgroup=info,
        host_memory_bytes=cgroup.read_host_memory(root),
        smt=None if physical is None else logical > physical,
        env_problems=problems,
    )


def mark_binding(limits: list[CpuLimit], logical: int) -> int:
    """``effective`` = min over the binding sources (capped by ``logical``); mark the rows."""
    counts = {
        id(limit): counted
        for limit in limits
        if limit.limits and limit.source in BINDING_SOURCES
        if (counted := counted_cpus(limit)) is not None
    }
    if not counts:
        return logical
    effective = min(counts.values())
    if effective > logical:
        return logical
    for limit in limits:
        limit.binding = counts.get(id(limit)) == effective
    return effective
