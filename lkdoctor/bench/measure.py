"""Counters read around each benchmark run: what the scheduler did to this process.

Per-thread run and wait times come from ``/proc/self/task/*/schedstat`` (the probe's
own pool threads report theirs from inside, because they exit when the pool is
dropped); context switches and CPU time from ``getrusage`` (which keeps the counts of
threads that have exited); throttling from the own cgroup's ``cpu.stat``; stalls
from ``/proc/pressure/cpu``.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lkdoctor.host.proc import LIVE_ROOT, proc_dir
from lkdoctor.model import Throttling

if TYPE_CHECKING:
    from lkdoctor._probe import ThreadStats


def parse_schedstat(text: str) -> tuple[int, int] | None:
    """``(ns on CPU, ns runnable but waiting)`` from a schedstat line, None if malformed."""
    fields = text.split()
    if len(fields) < 2:
        return None
    try:
        return int(fields[0]), int(fields[1])
    except ValueError:
        return None


def read_task_schedstats(root: Path = LIVE_ROOT) -> dict[int, tuple[int, int]]:
    """Run and wait ns of every thread of this process; threads that vanish are skipped."""
    tasks = proc_dir(root, None) / "task"
    found: dict[int, tuple[int, int]] = {}
    try:
        entries = list(tasks.iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            parsed = parse_schedstat((entry / "schedstat").read_text())
        except OSError:
            continue
        if parsed is not None:
            found[int(entry.name)] = parsed
    return found


def parse_psi_some_total(text: str) -> int | None:
    """The ``some ... total=`` counter (µs) of a PSI file, None if absent."""
    for line in text.splitlines():
        if line.startswith("some "):
            for item in line.split()[1:]:
                key, _, value = item.partition("=")
                if key == "total" and value.isdigit():
                    return int(value)
    return None


def read_psi_some_us(root: Path = LIVE_ROOT) -> int | None:
    try:
        return parse_psi_some_total((root / "proc" / "pressure" / "cpu").read_text())
    except OSError:
        return None


def read_cgroup_cpu_stat(root: Path = LIVE_ROOT) -> dict[str, int] | None:
    from lkdoctor.host.cgroup import read_cpu_stat

    try:
        return read_cpu_stat(root)
    except (OSError, ValueError):
        return None


def throttling_delta(
    before: dict[str, int] | None, after: dict[str, int] | None
) -> Throttling | None:
    """Throttling between two ``cpu.stat`` readings (v1 ns or v2 µs), None without counters."""
    if not before or not after or "nr_periods" not in before or "nr_periods" not in after:
        return None
    if "throttled_usec" in after:
        seconds = (after["throttled_usec"] - before.get("throttled_usec", 0)) / 1e6
    else:
        seconds = (after.get("throttled_time", 0) - before.get("throttled_time", 0)) / 1e9
    return Throttling(
        periods=max(0, after["nr_periods"] - before["nr_periods"]),
        throttled_periods=max(0, after.get("nr_throttled", 0) - before.get("nr_throttled", 0)),
        throttled_seconds=max(0.0, seconds),
    )


@dataclass(frozen=True)
class Counters:
    """One reading of every counter, taken just before or just after a run."""

    at: float
    tasks: dict[int, tuple[int, int]]
    cpu_seconds: float
    nonvoluntary_switches: int
    cgroup: dict[str, int] | None
    psi_some_us: int | None

    @classmethod
    def read(cls, root: Path = LIVE_ROOT, *, cgroup: bool = True) -> Counters:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            at=time.perf_counter(),
            tasks=read_task_schedstats(root),
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            nonvoluntary_switches=usage.ru_nivcsw,
            cgroup=read_cgroup_cpu_stat(root) if cgroup else None,
            psi_some_us=read_psi_some_us(root),
        )


@dataclass
class Window:
    """What happened between two readings, with the probe's own per-thread figures added."""

    wall_seconds: float
    cpu_seconds: float
    run_ns: int
    wait_ns: int
    nonvoluntary_switches: int
    throttling: Throttling | None
    psi_some_us: int | None
    tids: set[int] = field(default_factory=set)

    @property
    def wait_share(self) -> float | None:
        total = self.run_ns + self.wait_ns
        return self.wait_ns / total if total > 0 else None


def window_between(
    before: Counters,
    after: Counters,
    kernel_threads: Sequence[ThreadStats] = (),
) -> Window:
    """The deltas from ``before`` to ``after``.

    ``kernel_threads`` are the probe's per-thread figures; their tids are left out of the
    /proc diff so a pool thread still alive at the second reading is not counted twice.
    """
    kernel_tids = {t.tid for t in kernel_threads}
    run_ns = sum(t.run_ns for t in kernel_threads)
    wait_ns = sum(t.wait_ns for t in kernel_threads)
    for tid, (run_after, wait_after) in after.tasks.items():
        if tid in kernel_tids:
            continue
        run_before, wait_before = before.tasks.get(tid, (0, 0))
        run_ns += max(0, run_after - run_before)
        wait_ns += max(0, wait_after - wait_before)
    psi = (
        after.psi_some_us - before.psi_some_us
        if after.psi_some_us is not None and before.psi_some_us is not None
        else None
    )
    return Window(
        wall_seconds=max(0.0, after.at - before.at),
        cpu_seconds=max(0.0, after.cpu_seconds - before.cpu_seconds),
        run_ns=run_ns,
        wait_ns=wait_ns,
        nonvoluntary_switches=max(0, after.nonvoluntary_switches - before.nonvoluntary_switches),
        throttling=throttling_delta(before.cgroup, after.cgroup),
        psi_some_us=psi,
        tids=kernel_tids,
    )
