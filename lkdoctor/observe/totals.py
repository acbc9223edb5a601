"""Totals of a whole ``-- COMMAND`` run from a cgroup of its own: every process counted.

The sampler reads each thread's ``schedstat`` while the thread lives, so a process born
and gone between two samples is missed. The kernel misses nothing: CPU time is charged to
the cgroup a task runs in, and stays there after the task has exited. Where the machine
allows it (root, a writable cgroup hierarchy), the command is started inside a new cgroup
below the doctor's own, and the group's counters are the run's totals:

* cgroup v2 (preferred): ``cpu.stat`` ``usage_usec`` is always kept (the cpu controller
  need not be enabled); ``throttled_usec`` is there only when it is.
* cgroup v1 ``cpuacct``: ``cpuacct.usage`` (ns); throttling (``cpu.stat``
  ``throttled_time``) only where ``cpu`` is mounted together with ``cpuacct``.

The group is removed afterwards (processes the command left running go back to the
doctor's group first). Where no group can be made, the totals are the sampled ones and
the report says why.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from lkdoctor.host.cgroup import discover, own_directory, parse_cpu_stat, parse_proc_cgroup
from lkdoctor.host.proc import LIVE_ROOT, proc_dir, process_exists
from lkdoctor.model import RunTotals

#: Run groups are named ``lkdoctor-run-<doctor pid>-<ns>``.
GROUP_PREFIX = "lkdoctor-run-"
#: How long removing the group may wait for the kernel to let go of exited tasks.
REMOVE_TIMEOUT = 2.0


@dataclass(frozen=True)
class RunGroup:
    """A cgroup created for one run; ``hierarchy`` is ``"v2"`` or ``"v1 cpuacct"``."""

    path: Path
    hierarchy: str

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def enter_from_child(self) -> None:
        """Move the calling process into the group (``preexec_fn``: after fork, before
        exec, so every process the command starts is born inside). Only ``os`` calls:
        this runs in a forked child. A failure leaves the command outside, which
        :meth:`holds` then tells."""
        try:
            fd = os.open(self.procs, os.O_WRONLY)
            try:
                os.write(fd, b"%d" % os.getpid())
            finally:
                os.close(fd)
        except OSError:
            pass

    def holds(self, pid: int) -> bool:
        """Whether ``pid`` runs (or ended, still unreaped) in the group."""
        text = _read(proc_dir(LIVE_ROOT, pid) / "cgroup") or ""
        return any(
            membership.path.endswith("/" + self.path.name) for membership in parse_proc_cgroup(text)
        )

    def read(self) -> tuple[float, float | None] | None:
        """CPU seconds of every task that ran in the group, and the seconds it was
        throttled (None when the group keeps no throttling counter); None when the
        counters cannot be read."""
        stats = parse_cpu_stat(_read(self.path / "cpu.stat") or "")
        if self.hierarchy == "v2":
            if "usage_usec" not in stats:
                return None
            cpu = stats["usage_usec"] / 1e6
        else:
            usage = (_read(self.path / "cpuacct.usage") or "").strip()
            if not usage.isdigit():
                return None
            cpu = int(usage) / 1e9
        if "throttled_usec" in stats:
            return cpu, stats["throttled_usec"] / 1e6
        if "throttled_time" in stats:
            return cpu, stats["throttled_time"] / 1e9
        return cpu, None

    def remove(self, timeout: float = REMOVE_TIMEOUT) -> str | None:
        """Remove the group; processes still in it go to the parent group first.
        Returns why it could not be removed, or None."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                for pid in (_read(self.procs) or "").split():
                    with contextlib.suppress(OSError):  # it has just exited
                        (self.path.parent / "cgroup.procs").write_text(pid)
                self.path.rmdir()
                return None
            except FileNotFoundError:
                return None
            except OSError as exc:  # EBUSY while the kernel releases exited tasks
                if time.monotonic() >= deadline:
                    return f"{self.path} not removed: {exc.strerror or exc}"
                time.sleep(0.02)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _candidates(root: Path) -> list[tuple[Path, str]]:
    """Where a group could be made: the doctor's own v2 group, then its own v1 cpuacct."""
    view = discover(root)
    found = []
    v2 = own_directory(view, root, None)
    if v2 is not None:
        found.append((v2[0], "v2"))
    v1 = own_directory(view, root, "cpuacct")
    if v1 is not None:
        found.append((v1[0], "v1 cpuacct"))
    return found


def _remove_abandoned(parent: Path, root: Path) -> None:
    """Empty run groups of doctors that no longer run (killed with SIGKILL, which no
    ``finally`` survives): rmdir only succeeds on a group without processes."""
    for stale in parent.glob(f"{GROUP_PREFIX}*"):
        owner = stale.name.removeprefix(GROUP_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not process_exists(root, int(owner)):
            with contextlib.suppress(OSError):
                stale.rmdir()


def create_run_group(root: Path = LIVE_ROOT) -> RunGroup | str:
    """A new, empty cgroup below the doctor's own that counts CPU time, or why none can be
    made (no cgroup mounted, not writable, not root)."""
    name = f"{GROUP_PREFIX}{os.getpid()}-{time.monotonic_ns()}"
    reasons = []
    for parent, hierarchy in _candidates(root):
        _remove_abandoned(parent, root)
        group = RunGroup(parent / name, hierarchy)
        try:
            group.path.mkdir()
        except OSError as exc:
            reasons.append(f"{hierarchy}: cannot create a cgroup in {parent}: {exc.strerror}")
            continue
        if group.read() is not None:
            return group
        reasons.append(f"{hierarchy}: {group.path} keeps no CPU usage counter")
        group.remove()
    if not reasons:
        return "no cgroup hierarchy with CPU accounting is mounted"
    return "; ".join(reasons)


def cgroup_totals(group: RunGroup, entered: bool) -> RunTotals | str:
    """The run's totals from its group (read after the command has exited), or why they
    cannot be: the command did not get into it (``entered``, see :meth:`RunGroup.holds`),
    or the counters are not readable."""
    if not entered:
        return f"the command could not enter {group.path}"
    counters = group.read()
    if counters is None:
        return f"{group.path}: counters not readable"
    cpu, throttled = counters
    return RunTotals(
        source="cgroup",
        cpu_seconds=round(cpu, 3),
        throttled_seconds=None if throttled is None else round(throttled, 3),
        cgroup=str(group.path),
    )


def sampled_totals(cpu_seconds: float, reason: str) -> RunTotals:
    """Totals as the sampler saw them: processes between two samples are missing."""
    return RunTotals(
        source="sampled",
        cpu_seconds=cpu_seconds,
        throttled_seconds=None,
        cgroup=None,
        reason=reason,
    )
