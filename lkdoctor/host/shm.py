"""``/dev/shm`` and memory readers: the mount, its free space, segments nobody holds, the
host's available memory and a process's USS/PSS.

Every reader takes ``root`` (``/`` live, a fixture tree in tests) and never raises on
unreadable files: what cannot be read is ``None`` or left out.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lkdoctor.host.proc import LIVE_ROOT, proc_dir

if TYPE_CHECKING:
    from lkdoctor.host.cgroup import CgroupView

SHM_DIR = "dev/shm"

#: Python's SharedMemory names (LensKit 2025's model copies) and torch's file_system ones.
SEGMENT_PREFIXES = {"psm_": "lenskit", "torch_": "torch"}

#: torch names its segments ``torch_<pid>_<random>``: the creator's pid is in the name.
_TORCH_OWNER = re.compile(r"^torch_(\d+)_")


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo, the fields we use."""

    mount_point: str
    fstype: str
    source: str


@dataclass(frozen=True)
class Segment:
    name: str
    size_bytes: int
    age_s: float
    kind: str
    owner_pid: int | None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def read_mounts(root: Path = LIVE_ROOT) -> list[Mount]:
    """Our mounts from ``/proc/self/mountinfo`` (malformed lines are skipped)."""
    mounts = []
    for line in (_read_text(proc_dir(root, None) / "mountinfo") or "").splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 2:
            continue
        mounts.append(Mount(_unescape(fields[4]), rest[0], _unescape(rest[1])))
    return mounts


def shm_mount(root: Path = LIVE_ROOT) -> Mount | None:
    """The mount ``/dev/shm`` is on itself (the last one there wins, as the kernel shows)."""
    found = [m for m in read_mounts(root) if m.mount_point == "/dev/shm"]
    return found[-1] if found else None


def shm_space(root: Path = LIVE_ROOT) -> tuple[int, int, int] | None:
    """``(size, free, used)`` bytes of ``/dev/shm``, or None when it cannot be read."""
    try:
        stat = os.statvfs(root / SHM_DIR)
    except OSError:
        return None
    size = stat.f_blocks * stat.f_frsize
    free = stat.f_bavail * stat.f_frsize
    return size, free, size - stat.f_bfree * stat.f_frsize


def segment_kind(name: str) -> str | None:
    return next(
        (kind for prefix, kind in SEGMENT_PREFIXES.items() if name.startswith(prefix)), None
    )


def list_segments(root: Path = LIVE_ROOT, now: float | None = None) -> list[Segment]:
    """The LensKit and torch segments in ``/dev/shm``, held or not."""
    now = time.time() if now is None else now
    segments = []
    try:
        entries = list(os.scandir(root / SHM_DIR))
    except OSError:
        return []
    for entry in entries:
        kind = segment_kind(entry.name)
        if kind is None:
            continue
        try:
            stat = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # gone while we looked
        owner = _TORCH_OWNER.match(entry.name)
        segments.append(
            Segment(
                name=entry.name,
                size_bytes=stat.st_blocks * 512,  # tmpfs pages really taken, not the length
                age_s=max(0.0, now - stat.st_mtime),
                kind=kind,
                owner_pid=int(owner.group(1)) if owner else None,
            )
        )
    return sorted(segments, key=lambda s: s.name)


def held_segment_names(root: Path = LIVE_ROOT, pids: list[int] | None = None) -> set[str]:
    """Names of ``/dev/shm`` files that live processes (``pids``, else all) have open or
    mapped."""
    held: set[str] = set()
    if pids is None:
        try:
            pids = [int(e.name) for e in os.scandir(root / "proc") if e.name.isdigit()]
        except OSError:
            return held
    for pid in pids:
        base = root / "proc" / str(pid)
        for line in (_read_text(base / "maps") or "").splitlines():
            at = line.find("/dev/shm/")
            if at >= 0:
                held.add(line[at + len("/dev/shm/") :].removesuffix(" (deleted)").strip())
        try:
            fds = list(os.scandir(base / "fd"))
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd.path)
            except OSError:
                continue
            if target.startswith("/dev/shm/"):
                held.add(target[len("/dev/shm/") :])
    return held


def orphan_segments(root: Path = LIVE_ROOT, now: float | None = None) -> list[Segment]:
    """LensKit and torch segments no live process holds and whose creator (where the
    name says it) is gone: the leftovers of processes that died."""
    segments = list_segments(root, now)
    if not segments:
        return []  # nothing to match: spare the scan of every process
    held = held_segment_names(root)
    return [
        s
        for s in segments
        if s.name not in held
        and (s.owner_pid is None or not (root / "proc" / str(s.owner_pid)).exists())
    ]


def read_meminfo(root: Path = LIVE_ROOT) -> dict[str, int]:
    """``/proc/meminfo`` in bytes, by field name."""
    values = {}
    for line in (_read_text(root / "proc" / "meminfo") or "").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            unit = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
            values[name.strip()] = int(parts[0]) * unit
    return values


def read_rollup(root: Path, pid: int | None) -> dict[str, int]:
    """``smaps_rollup`` of a process in bytes (Rss, Pss, Private_Clean, …); {} if unreadable."""
    values = {}
    for line in (_read_text(proc_dir(root, pid) / "smaps_rollup") or "").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1] == "kB":
            values[name.strip()] = int(parts[0]) * 1024
    return values


def uss_of(rollup: dict[str, int]) -> int | None:
    """Unique set size: the pages only this process maps."""
    if "Private_Clean" not in rollup:
        return None
    return rollup["Private_Clean"] + rollup.get("Private_Dirty", 0)


@dataclass(frozen=True)
class MemoryCounters:
    """The memory cgroup of a process: its directory, peak and limit (its OOM kills, over
    the ancestors too, are :func:`lkdoctor.host.cgroup.read_oom_kills`'s)."""

    path: Path
    version: int
    peak_bytes: int | None
    limit_bytes: int | None


def _int_file(path: Path) -> int | None:
    text = _read_text(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def memory_counters(
    root: Path = LIVE_ROOT, pid: int | None = None, view: CgroupView | None = None
) -> MemoryCounters | None:
    """The counters of ``pid``'s own memory cgroup (v1 memory controller, else v2);
    ``view``: its cgroups when already discovered."""
    from lkdoctor.host import cgroup

    view = cgroup.discover(root, pid) if view is None else view
    for controller, version in (("memory", 1), (None, 2)):
        found = cgroup.own_directory(view, root, controller)
        if found is not None:
            return counters_at(found[0], version)
    return None


def counters_at(directory: Path, version: int) -> MemoryCounters:
    """The memory counters of one cgroup directory (``version`` 1 or 2), read now."""
    if version == 1:
        limit = _int_file(directory / "memory.limit_in_bytes")
        return MemoryCounters(
            directory,
            version,
            _int_file(directory / "memory.max_usage_in_bytes"),
            limit if limit is not None and limit < 2**60 else None,  # v1 prints ~2**63 for none
        )
    return MemoryCounters(
        directory,
        version,
        _int_file(directory / "memory.peak"),
        _int_file(directory / "memory.max"),  # "max" reads as None: no limit
    )


def tree_segments_bytes(root: Path, pids: list[int]) -> int:
    """Bytes in the LensKit and torch segments that ``pids`` hold now (each counted once)."""
    held = held_segment_names(root, pids)
    return sum(s.size_bytes for s in list_segments(root) if s.name in held)
