"""Readers for ``/proc/PID``: threads, their states and CPU time, maps, environ, status.

Every reader takes ``root`` (``/`` live, a fixture tree in tests) and ``pid``
(``None`` means this process, ``/proc/self``), so each can be tested on files.
A thread may exit between listing and reading; readers skip such threads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lkdoctor.host.undecodable import decode_host_bytes

#: The root of the live system; every reader takes a root so a fixture tree can stand in.
LIVE_ROOT = Path("/")

#: Kernel thread states as /proc shows them (the letter in ``stat``).
STATE_NAMES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-wait",
    "T": "stopped",
    "t": "traced",
    "Z": "zombie",
    "X": "dead",
    "I": "idle",
    "P": "parked",
}


def proc_dir(root: Path, pid: int | None) -> Path:
    """``root/proc/PID``, or ``root/proc/self`` when ``pid`` is None (this process).

    A pid below 1 names no process in ``/proc`` (``0`` means "the caller" only to system
    calls such as ``sched_getaffinity``), so it is refused rather than read as this process.
    """
    if pid is None:
        return root / "proc" / "self"
    if pid < 1:
        raise ValueError(f"pid must be 1 or more (None means this process), got {pid}")
    return root / "proc" / str(pid)


def clock_ticks() -> int:
    """Kernel clock ticks per second, the unit of utime/stime in ``stat``."""
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError):  # pragma: no cover - every Linux has it
        return 100


@dataclass(frozen=True)
class TaskStat:
    """One thread's line in ``/proc/PID/task/TID/stat``."""

    tid: int
    name: str
    state: str
    utime_ticks: int
    stime_ticks: int
    processor: int | None


def parse_stat(text: str) -> TaskStat:
    """Parse a ``stat`` line; the name may hold spaces and parentheses, so split at the last ')'."""
    head, sep, rest = text.rpartition(")")
    if not sep or " (" not in head:
        raise ValueError(f"malformed stat line: {text[:80]!r}")
    tid_text, name = head.split(" (", 1)
    fields = rest.split()
    # fields[0] is field 3 (state) of proc(5); utime/stime are fields 14/15, processor 39.
    processor = int(fields[36]) if len(fields) > 36 else None
    return TaskStat(
        tid=int(tid_text),
        name=name,
        state=fields[0],
        utime_ticks=int(fields[11]),
        stime_ticks=int(fields[12]),
        processor=processor,
    )


def task_ids(root: Path, pid: int | None) -> list[int]:
    """Thread ids of the process, from ``/proc/PID/task``."""
    tids = []
    for entry in (proc_dir(root, pid) / "task").iterdir():
        if entry.name.isdigit():
            tids.append(int(entry.name))
    return sorted(tids)


def read_task_stat(root: Path, pid: int | None, tid: int) -> TaskStat | None:
    """One thread's ``stat``, or None when the thread has exited."""
    try:
        text = (proc_dir(root, pid) / "task" / str(tid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return parse_stat(text)


def read_task_stats(root: Path, pid: int | None) -> list[TaskStat]:
    """``stat`` of every live thread of the process."""
    stats = []
    for tid in task_ids(root, pid):
        stat = read_task_stat(root, pid, tid)
        if stat is not None:
            stats.append(stat)
    return stats


def parse_status(text: str) -> dict[str, str]:
    """``Key:<tab>value`` lines of a ``status`` file as a dict."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def read_status(root: Path, pid: int | None, tid: int | None = None) -> dict[str, str]:
    """``/proc/PID/status`` (or one thread's ``task/TID/status``) as a dict."""
    base = proc_dir(root, pid)
    path = base / "status" if tid is None else base / "task" / str(tid) / "status"
    return parse_status(path.read_text())


def parse_environ(data: bytes) -> dict[str, str]:
    """NUL-separated ``NAME=value`` entries; entries without ``=`` are ignored."""
    env = {}
    for entry in data.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if sep and name:
            env[decode_host_bytes(name)] = decode_host_bytes(value)
    return env


def read_environ(root: Path, pid: int | None) -> dict[str, str]:
    """The process's environment as it was at exec; PermissionError when not ours to read."""
    return parse_environ((proc_dir(root, pid) / "environ").read_bytes())


@dataclass(frozen=True)
class Library:
    """A shared library that brings a pool, under the name the ``--pid`` report lists it."""

    name: str
    pattern: str  # a regular expression matched at the start of the file name
    in_path: bool = False  # searched in the whole path instead (a Python extension module)

    def matches(self, path: str) -> bool:
        if self.in_path:
            return re.search(self.pattern, path) is not None
        return re.match(self.pattern, path.rsplit("/", 1)[-1]) is not None


def mapped_paths(maps_text: str) -> list[str]:
    """Distinct file paths mapped into the process, in first-seen order."""
    seen: dict[str, None] = {}
    for line in maps_text.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/"):
            seen.setdefault(parts[5].removesuffix(" (deleted)"), None)
    return list(seen)


def libraries_among(paths: list[str], libraries: Sequence[Library]) -> dict[str, list[str]]:
    """Which of ``libraries`` ``paths`` holds: ``{name: [path, ...]}``, first match wins."""
    found: dict[str, list[str]] = {}
    for path in paths:
        library = next((lib for lib in libraries if lib.matches(path)), None)
        if library is not None:
            found.setdefault(library.name, []).append(path)
    return found


#: Above any CPU number Linux has (NR_CPUS is at most 8192): a range up to 10**9 in a
#: corrupt or fabricated file would otherwise fill memory with CPU numbers.
MAX_CPU_NUMBER = 1 << 16


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
            if first > last or first < 0 or last > MAX_CPU_NUMBER:
                raise ValueError(f"bad CPU range {part[:40]!r}")
            cpus.update(range(first, last + 1))
        else:
            cpu = int(part)
            if cpu < 0 or cpu > MAX_CPU_NUMBER:
                raise ValueError(f"bad CPU {part[:40]!r}")
            cpus.add(cpu)
    return cpus


def read_affinity(root: Path, pid: int | None) -> tuple[frozenset[int] | None, str]:
    """The CPUs in the affinity mask and where they were read: ``sched_getaffinity`` live,
    ``Cpus_allowed_list`` of ``status`` otherwise; None when neither can be read."""
    if root == LIVE_ROOT and hasattr(os, "sched_getaffinity"):
        try:
            return frozenset(os.sched_getaffinity(pid or 0)), f"os.sched_getaffinity({pid or 0})"
        except OSError:
            pass
    status = proc_dir(root, pid) / "status"
    try:
        for line in status.read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                cpus = parse_cpu_list(line.split(":", 1)[1])
                return frozenset(cpus), f"{status} Cpus_allowed_list"
    except (OSError, ValueError):
        pass
    return None, f"{status}: no readable Cpus_allowed_list"


def read_cmdline(root: Path, pid: int) -> list[str]:
    """``pid``'s command line, every argument; empty when unreadable (a kernel thread, a
    process that ended, another user's process)."""
    try:
        argv = (proc_dir(root, pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return []
    return [os.fsdecode(arg) for arg in argv if arg]


def read_cwd(root: Path, pid: int | None) -> Path | None:
    """The process's working folder (this process's when ``pid`` is None on the live
    system); None when unknown (another user's process, a folder deleted under it)."""
    try:
        if pid is None and root == LIVE_ROOT:
            return Path(os.getcwd())
        return Path(os.readlink(proc_dir(root, pid) / "cwd"))
    except OSError:
        return None


def process_exists(root: Path, pid: int) -> bool:
    """Whether ``pid`` names a live process under ``root``."""
    return pid > 0 and (proc_dir(root, pid) / "stat").exists()
