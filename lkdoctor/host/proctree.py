"""Readers for a process tree under ``/proc``: who is whose child, and cheap per-thread counters.

The sampler calls these many times a second, so they use ``os.open``/``os.read`` on
small files (a few microseconds each) rather than ``Path.read_text``. Every reader takes
``root`` like :mod:`lkdoctor.host.proc`, and a process or thread that vanishes between
listing and reading is skipped, never an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from lkdoctor.host.proc import proc_dir

#: The start of a command line kept in a report row.
COMMAND_CHARS = 120


def read_small(path: str) -> bytes | None:
    """A small /proc file's bytes, or None when it is gone or closed to us."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:  # the process exited between open and read
        return None
    finally:
        os.close(fd)


def parse_ppid(stat: bytes) -> int | None:
    """The parent pid (field 4) of a ``stat`` line; the name may hold ``)``, so split at the last."""
    _, sep, rest = stat.rpartition(b")")
    fields = rest.split()
    if not sep or len(fields) < 2:
        return None
    try:
        return int(fields[1])
    except ValueError:
        return None


def list_pids(root: Path) -> list[int]:
    """Every process id under ``root/proc``."""
    try:
        names = os.listdir(root / "proc")
    except OSError:
        return []
    return [int(name) for name in names if name.isdigit()]


def list_tids(root: Path, pid: int) -> list[int]:
    """The thread ids of ``pid``, empty when it has exited."""
    try:
        names = os.listdir(proc_dir(root, pid) / "task")
    except OSError:
        return []
    return [int(name) for name in names if name.isdigit()]


class ParentTable:
    """``pid → ppid`` for every process, read once per pid and kept while the pid lives.

    Keeping the first parent seen also keeps orphans in the tree: a worker whose parent
    exits is re-parented to init, yet it is still part of the run being watched.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parents: dict[int, int] = {}

    def refresh(self) -> None:
        live = list_pids(self.root)
        known = self.parents
        fresh: dict[int, int] = {}
        base = str(self.root / "proc")
        for pid in live:
            ppid = known.get(pid)
            if ppid is None:
                stat = read_small(f"{base}/{pid}/stat")
                ppid = parse_ppid(stat) if stat is not None else None
                if ppid is None:
                    continue
            fresh[pid] = ppid
        self.parents = fresh

    def descendants(self, pid: int, known: Iterable[int] = ()) -> list[int]:
        """``pid`` and every live process below it; ``known`` members of the tree whose
        parents have exited are still followed (their children too)."""
        return tree_members(self.parents, pid, known)


def tree_members(parents: Mapping[int, int], top: int, known: Iterable[int] = ()) -> list[int]:
    """``top`` and its live descendants (breadth first), plus live ``known`` members."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    members: list[int] = []
    seen: set[int] = set()
    queue = [top, *known]
    while queue:
        pid = queue.pop(0)
        if pid in seen or pid not in parents:
            continue
        seen.add(pid)
        members.append(pid)
        queue.extend(sorted(children.get(pid, ())))
    return members


def read_thread_schedstat(base: str, tid: int) -> tuple[int, int] | None:
    """``(ns on a CPU, ns runnable but waiting)`` of one thread under ``base`` (/proc/PID)."""
    data = read_small(f"{base}/task/{tid}/schedstat")
    if data is None:
        return None
    fields = data.split()
    try:
        return int(fields[0]), int(fields[1])
    except (ValueError, IndexError):
        return None


def read_thread_state(base: str, tid: int) -> str | None:
    """One thread's state letter, for kernels without schedstat."""
    data = read_small(f"{base}/task/{tid}/stat")
    if data is None:
        return None
    _, sep, rest = data.rpartition(b")")
    fields = rest.split()
    return fields[0].decode() if sep and fields else None


def read_text(root: Path, pid: int, name: str) -> str | None:
    """``/proc/PID/<name>`` as text, None when it cannot be read."""
    data = read_small(str(proc_dir(root, pid) / name))
    return None if data is None else data.decode("utf-8", "replace")


def short_command(cmdline: bytes, limit: int = COMMAND_CHARS) -> str:
    """A NUL-separated command line as one line of at most ``limit`` characters."""
    text = " ".join(cmdline.decode("utf-8", "replace").replace("\0", " ").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_command(root: Path, pid: int) -> str:
    """The start of ``pid``'s command line ("" for kernel threads, zombies or a closed file)."""
    try:
        data = (proc_dir(root, pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return short_command(data)
