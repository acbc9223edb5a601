"""cgroup discovery and readers: the process's own cgroup, its CPU quota, cpuset and memory.

The own cgroup is found the way the kernel describes it, never assumed: the
membership lines of ``/proc/<pid>/cgroup`` (v1 ``N:ctrl,ctrl:/path``, v2 ``0::/path``)
are mapped onto directories through ``/proc/self/mountinfo``, whose ``root`` field
says which part of the hierarchy a mount shows (a container's bind-mounted
``/docker/abc`` for example). Mountinfo is always our own: the cgroup paths of
another process are printed relative to *our* cgroup namespace, and our mounts are
the ones we can read through.

Every reader takes ``root`` (``/`` live, a fixture tree in tests) and never raises on
malformed files: what cannot be read becomes ``None`` plus a note.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from lkdoctor.host.proc import LIVE_ROOT, proc_dir

#: Memory limits at or above this mean "no limit" (v1 prints PAGE_COUNTER_MAX, ~2**63).
UNLIMITED_MEMORY = 2**60

CgroupVersion = Literal["v1", "v2", "hybrid", "none"]


@dataclass(frozen=True)
class Membership:
    """One line of ``/proc/<pid>/cgroup``."""

    hierarchy_id: int
    controllers: frozenset[str]
    path: str

    @property
    def unified(self) -> bool:
        return self.hierarchy_id == 0 and not self.controllers


@dataclass(frozen=True)
class CgroupMount:
    """A cgroup (v1) or cgroup2 mount from mountinfo."""

    mount_point: str
    mount_root: str
    version: Literal[1, 2]
    options: frozenset[str]


@dataclass
class Reading:
    """A value read from one file, or why it could not be read."""

    value: float | int | str | None
    path: Path | None
    note: str = ""


@dataclass
class CgroupView:
    """What we could learn about the cgroups of one process."""

    version: CgroupVersion
    memberships: list[Membership] = field(default_factory=list)
    mounts: list[CgroupMount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def parse_proc_cgroup(text: str) -> list[Membership]:
    """Parse ``/proc/<pid>/cgroup``; malformed lines are skipped."""
    memberships = []
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[2].startswith("/"):
            continue
        controllers = frozenset(c for c in parts[1].split(",") if c)
        memberships.append(Membership(int(parts[0]), controllers, parts[2]))
    return memberships


def _unescape_mountinfo(field_text: str) -> str:
    """Mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    out, i = [], 0
    while i < len(field_text):
        chunk = field_text[i : i + 4]
        if len(chunk) == 4 and chunk[0] == "\\" and chunk[1:].isdigit():
            out.append(chr(int(chunk[1:], 8)))
            i += 4
        else:
            out.append(field_text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts in a mountinfo file; other lines are ignored."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append(
            CgroupMount(
                mount_point=_unescape_mountinfo(fields[4]),
                mount_root=_unescape_mountinfo(fields[3]),
                version=2 if tail[0] == "cgroup2" else 1,
                options=frozenset(tail[2].split(",")),
            )
        )
    return mounts


def discover(root: Path = LIVE_ROOT, pid: int | None = None) -> CgroupView:
    """Read the memberships of ``pid`` (None = self) and our cgroup mounts."""
    notes = []
    cgroup_file = proc_dir(root, pid) / "cgroup"
    cgroup_text = _read_text(cgroup_file)
    if cgroup_text is None:
        notes.append(f"{cgroup_file} is not readable")
    memberships = parse_proc_cgroup(cgroup_text or "")
    mountinfo_file = proc_dir(root, None) / "mountinfo"
    mountinfo_text = _read_text(mountinfo_file)
    if mountinfo_text is None:
        notes.append(f"{mountinfo_file} is not readable")
    mounts = parse_mountinfo(mountinfo_text or "")
    has_v1 = any(m.version == 1 for m in mounts)
    has_v2 = any(m.version == 2 for m in mounts)
    version: CgroupVersion = (
        "hybrid" if has_v1 and has_v2 else "v1" if has_v1 else "v2" if has_v2 else "none"
    )
    return CgroupView(version=version, memberships=memberships, mounts=mounts, notes=notes)


def _relative_to_mount(path: str, mount_root: str) -> str | None:
    """``path`` below ``mount_root`` (``""`` for the root itself), or None when outside."""
    cgroup_path, mount = PurePosixPath(path), PurePosixPath(mount_root)
    if ".." in cgroup_path.parts:  # a group outside our cgroup namespace: not visible here
        return None
    if cgroup_path == mount:
        return ""
    try:
        return str(cgroup_path.relative_to(mount))
    except ValueError:
        return None


def own_directory(
    view: CgroupView, root: Path, controller: str | None
) -> tuple[Path, Path, str] | None:
    """The directory of the own cgroup for ``controller`` (None = the v2 hierarchy).

    Returns ``(own dir, mount dir, cgroup path)``. When a bind mount shows only part of
    the hierarchy and the own path lies outside it (a container without its own cgroup
    namespace), the mount's top directory is the closest visible group.
    """
    if controller is None:
        membership = next((m for m in view.memberships if m.unified), None)
        mounts = [m for m in view.mounts if m.version == 2]
    else:
        membership = next((m for m in view.memberships if controller in m.controllers), None)
        mounts = [m for m in view.mounts if m.version == 1 and controller in m.options]
    if membership is None or not mounts:
        return None
    best: tuple[int, Path, Path] | None = None
    for mount in mounts:
        relative = _relative_to_mount(membership.path, mount.mount_root)
        mount_dir = root / mount.mount_point.lstrip("/")
        if relative is not None:
            depth = len(PurePosixPath(mount.mount_root).parts)
            if best is None or depth > best[0]:
                best = (depth, mount_dir / relative if relative else mount_dir, mount_dir)
    if best is None:
        mount_dir = root / mounts[0].mount_point.lstrip("/")
        return mount_dir, mount_dir, membership.path
    return best[1], best[2], membership.path


def ancestors(own: Path, mount_dir: Path) -> list[Path]:
    """``own`` and every parent up to and including the mount's top directory."""
    chain = [own]
    current = own
    while current != mount_dir and current.parent != current and mount_dir in current.parents:
        current = current.parent
        chain.append(current)
    return chain


# --- quota ------------------------------------------------------------------------------


def parse_cpu_max(text: str) -> float | None:
    """v2 ``cpu.max``: ``"max 100000"`` → None (no quota), ``"50000 100000"`` → 0.5."""
    parts = text.split()
    if not parts or len(parts) > 2:
        raise ValueError(f"expected 'QUOTA PERIOD', got {text.strip()!r}")
    if parts[0] == "max":
        return None
    quota = int(parts[0])
    period = int(parts[1]) if len(parts) == 2 else 100000
    if quota <= 0 or period <= 0:
        raise ValueError(f"quota and period must be positive, got {text.strip()!r}")
    return quota / period


def parse_cfs(quota_text: str, period_text: str) -> float | None:
    """v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``: -1 → None (no quota)."""
    quota = int(quota_text.strip())
    if quota < 0:
        return None
    period = int(period_text.strip())
    if quota == 0 or period <= 0:
        raise ValueError(f"quota {quota} / period {period} is not a CPU quota")
    return quota / period


def _quota_at(directory: Path, version: int) -> Reading:
    """The quota set on one cgroup directory (no ancestors)."""
    if version == 2:
        path = directory / "cpu.max"
        text = _read_text(path)
        if text is None:
            return Reading(None, None)
        try:
            return Reading(parse_cpu_max(text), path)
        except ValueError as exc:
            return Reading(None, path, f"{path}: unreadable quota ({exc})")
    quota_path, period_path = directory / "cpu.cfs_quota_us", directory / "cpu.cfs_period_us"
    quota_text, period_text = _read_text(quota_path), _read_text(period_path)
    if quota_text is None:
        return Reading(None, None)
    try:
        return Reading(parse_cfs(quota_text, period_text or ""), quota_path)
    except ValueError:
        shown = f"{quota_text.strip()!r} / {(period_text or '').strip()!r}"
        return Reading(None, quota_path, f"{quota_path}: unreadable quota ({shown})")


def _hierarchies(view: CgroupView, root: Path, controller: str) -> list[tuple[int, Path, Path]]:
    """Own and mount directories of ``controller`` in v1 and in the v2 tree, as found."""
    found = []
    v1 = own_directory(view, root, controller)
    if v1 is not None:
        found.append((1, v1[0], v1[1]))
    v2 = own_directory(view, root, None)
    if v2 is not None:
        found.append((2, v2[0], v2[1]))
    return found


def _tightest(
    view: CgroupView, root: Path, controller: str, read_at: Callable[[Path, int], Reading]
) -> Reading:
    """The smallest value ``read_at`` finds over the own ``controller`` cgroup and its
    ancestors, in v1 and v2; unreadable files are gathered in the note."""
    tightest = Reading(None, None)
    notes = []
    for version, own, mount_dir in _hierarchies(view, root, controller):
        for directory in ancestors(own, mount_dir):
            reading = read_at(directory, version)
            if reading.note:
                notes.append(reading.note)
            elif isinstance(reading.value, (int, float)) and (
                not isinstance(tightest.value, (int, float)) or reading.value < tightest.value
            ):
                tightest = reading
    tightest.note = "; ".join(notes)
    return tightest


def read_quota(view: CgroupView, root: Path) -> Reading:
    """The tightest CPU quota over the own cgroup and all its ancestors (v1 and v2)."""
    return _tightest(view, root, "cpu", _quota_at)


def quota_cpus(quota: float) -> int:
    """CPUs a fractional quota counts as: ``max(1, floor(quota))`` (Rust std's rounding)."""
    return max(1, math.floor(quota))


# --- cpuset -----------------------------------------------------------------------------


def read_cpuset(view: CgroupView, root: Path) -> Reading:
    """The own cgroup's effective cpuset as a kernel CPU list string, e.g. ``"0-3"``.

    The nearest group that has the file decides: in v2 a group without the cpuset
    controller enabled is bound by its closest ancestor that has it.
    """
    notes: list[str] = []
    for version, own, mount_dir in _hierarchies(view, root, "cpuset"):
        names = (
            ("cpuset.cpus.effective",) if version == 2 else ("cpuset.effective_cpus", "cpuset.cpus")
        )
        for directory in ancestors(own, mount_dir):
            for path in (directory / name for name in names):
                text = _read_text(path)
                if text is None:
                    continue
                if text.strip():
                    return Reading(text.strip(), path, "; ".join(notes))
                notes.append(f"{path} is empty")
    return Reading(None, None, "; ".join(notes))


# --- memory -----------------------------------------------------------------------------


def _memory_at(directory: Path, version: int) -> Reading:
    path = directory / ("memory.max" if version == 2 else "memory.limit_in_bytes")
    text = _read_text(path)
    if text is None:
        return Reading(None, None)
    value = text.strip()
    if value == "max":
        return Reading(None, path)
    try:
        limit = int(value)
    except ValueError:
        return Reading(None, path, f"{path}: unreadable memory limit {value!r}")
    return Reading(limit if 0 < limit < UNLIMITED_MEMORY else None, path)


def read_memory_limit(view: CgroupView, root: Path) -> Reading:
    """The tightest memory limit over the own memory cgroup and its ancestors."""
    return _tightest(view, root, "memory", _memory_at)


def parse_oom_kills(text: str) -> int | None:
    """The ``oom_kill N`` line of v1 ``memory.oom_control`` or v2 ``memory.events``."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


def read_oom_kills(
    root: Path = LIVE_ROOT, pid: int | None = None, view: CgroupView | None = None
) -> dict[str, int]:
    """Out-of-memory kills the kernel has counted, per memory cgroup from ``pid``'s own up to
    the root (v1 ``memory.oom_control``, v2 ``memory.events``); those without the counter
    (kernels before 4.13) are left out. Compare two readings to count a run's kills.
    ``view``: ``pid``'s cgroups when already discovered."""
    view = discover(root, pid) if view is None else view
    counts: dict[str, int] = {}
    for version, own, mount_dir in _hierarchies(view, root, "memory"):
        name = "memory.events" if version == 2 else "memory.oom_control"
        for directory in ancestors(own, mount_dir):
            text = _read_text(directory / name)
            kills = parse_oom_kills(text) if text is not None else None
            if kills is not None:
                counts[str(directory / name)] = kills
    return counts


def oom_kills_since(before: dict[str, int]) -> int | None:
    """The kills counted since ``before`` (a :func:`read_oom_kills` reading), read again from
    the same files, so a watched process that has gone meanwhile still counts: the most any
    one cgroup counted (a kill counts in the cgroup that hit its limit and may count again
    in its ancestors). None when none of the files can be read again."""
    deltas = []
    for path, count in before.items():
        text = _read_text(Path(path))
        kills = parse_oom_kills(text) if text is not None else None
        if kills is not None:
            deltas.append(kills - count)
    return max(deltas) if deltas else None


def read_host_memory(root: Path = LIVE_ROOT) -> int | None:
    """``MemTotal`` from ``/proc/meminfo`` in bytes."""
    for line in (_read_text(root / "proc" / "meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                unit = 1024 if len(parts) < 3 or parts[2].lower() == "kb" else 1
                return int(parts[1]) * unit
    return None


# --- live counters (used by the benchmarks for throttling deltas) ------------------------


def parse_cpu_stat(text: str) -> dict[str, int]:
    """``cpu.stat`` lines ``key value``; lines that are not integers are skipped."""
    stats = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                stats[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return stats


def read_cpu_stat(root: Path = LIVE_ROOT, pid: int | None = None) -> dict[str, int] | None:
    """The parsed ``cpu.stat`` of the process's own CPU cgroup, or None when unavailable.

    v2 has ``nr_periods``, ``nr_throttled``, ``throttled_usec`` (once the cpu controller is
    enabled); v1 has ``nr_periods``, ``nr_throttled``, ``throttled_time`` (ns). A file with
    throttling counters is preferred over a v2 file that only has usage.
    """
    view = discover(root, pid)
    fallback = None
    for _, own, _ in _hierarchies(view, root, "cpu"):
        text = _read_text(own / "cpu.stat")
        if text is None:
            continue
        stats = parse_cpu_stat(text)
        if "nr_periods" in stats:
            return stats
        if stats and fallback is None:
            fallback = stats
    return fallback


def cpu_pressure_path(root: Path = LIVE_ROOT, pid: int | None = None) -> Path | None:
    """The own v2 cgroup's ``cpu.pressure`` (PSI), or None when absent."""
    found = own_directory(discover(root, pid), root, None)
    if found is None:
        return None
    path = found[0] / "cpu.pressure"
    return path if path.is_file() else None
