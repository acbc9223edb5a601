"""Watch a process tree read-only: every thread's ``schedstat``, sampled adaptively.

Each sample lists the tree (one ``/proc`` listing; ``stat`` is read only for pids not
seen before) and reads ``task/TID/schedstat`` of each of its threads: nanoseconds on a
CPU and nanoseconds runnable but waiting for one. Their growth between two samples,
divided by the interval, is how many threads were running and waiting on average in it,
so every moment counts, not only the instants the sampler looks. Per-process facts that
change rarely (name, command line, environment, libraries in ``maps``) are read when the
process is first seen, again at growing intervals and whenever it has more threads than
ever before (a pool just started), never at every sample.

Limits, stated in the report rather than hidden: a process born and gone between two
samples is not seen; a thread's last interval before it exits is lost.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lkdoctor.collected import Collected
from lkdoctor.host.cgroup import CgroupView, oom_kills_since, read_oom_kills
from lkdoctor.host.proc import LIVE_ROOT, proc_dir, read_environ
from lkdoctor.host.proctree import (
    ParentTable,
    list_tids,
    parse_ppid,
    read_command,
    read_small,
    read_thread_schedstat,
    read_thread_state,
)
from lkdoctor.host.shm import (
    MemoryCounters,
    counters_at,
    memory_counters,
    read_rollup,
    shm_space,
    tree_segments_bytes,
    uss_of,
)
from lkdoctor.model import (
    ErrorEntry,
    Observed,
    ObservedMemory,
    ObservedProcess,
    Section,
    TimelinePoint,
)
from lkdoctor.observe.totals import sampled_totals
from lkdoctor.pools.kinds import read_threading_libraries, threading_env
from lkdoctor.target import Target

SECTION = Section.OBSERVED

#: The observer aims to spend at most this share of one CPU reading /proc.
TARGET_OWN_SHARE = 0.01
#: Bounds of the adaptive interval between samples, in seconds.
MIN_INTERVAL = 0.1
MAX_INTERVAL = 1.0
#: An interval shorter than this is merged into the one before: schedstat charges a
#: thread's wait when it ends, so tiny intervals would show spikes that never happened.
SHORTEST_SPAN = MIN_INTERVAL / 2
#: Static facts of a process are re-read at these ages (seconds), then every last one.
STATIC_REFRESH_AGES = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)

#: schedstat charges a wait to the interval in which it ends, so a tree that just fits its
#: CPUs can read a little above them; an interval is oversubscribed beyond this factor.
OVERSUBSCRIBED_MARGIN = 1.1

#: LensKit's Rust extension, mapped by every process that runs LensKit's batch code.
LENSKIT_LIBRARY = "lenskit._accel"

#: Why ``--pid`` totals are sampled: another process's tree is inspected, never moved.
PID_TOTALS_REASON = (
    "--pid inspects running processes read-only, so they get no cgroup of their own; "
    "processes born and gone between two samples are missing"
)

#: multiprocessing's own helper processes: not workers of the plan.
HELPER_COMMAND = re.compile(r"multiprocessing\.(resource_tracker|forkserver|semaphore_tracker)")


@dataclass
class _Process:
    pid: int
    ppid: int
    first_seen: float
    last_seen: float
    name: str = "?"
    command: str = ""
    env: dict[str, str] = field(default_factory=dict)
    libraries: list[str] = field(default_factory=list)
    static_reads: int = 0
    counters: dict[int, tuple[int, int]] = field(default_factory=dict)
    thread_names: dict[int, str] = field(default_factory=dict)
    threads: int = 0
    run_ns: int = 0
    wait_ns: int = 0
    peak_runnable: float = 0.0
    alive: bool = True
    errors_reported: set[str] = field(default_factory=set)


@dataclass
class _MemoryTrack:
    """The tree's memory at its peak: sums of PSS and USS, /dev/shm, the cgroup's peak."""

    peak_pss: int = 0
    peak_uss: int = 0
    processes_at_peak: int = 0
    shm_before: int | None = None
    peak_shm: int | None = None
    peak_segments: int = 0
    cgroup_before: MemoryCounters | None = None
    seen: bool = False

    def sample(
        self,
        root: Path,
        pids: list[int],
        first_root: int | None,
        first_root_cgroup: CgroupView | None = None,
    ) -> None:
        pss = uss = 0
        for pid in pids:
            rollup = read_rollup(root, pid)  # unreadable (gone, another user): not counted
            pss += rollup.get("Pss", 0)
            uss += uss_of(rollup) or 0
        if pss > self.peak_pss:
            self.peak_pss, self.processes_at_peak = pss, len(pids)
        self.peak_uss = max(self.peak_uss, uss)
        space = shm_space(root)
        if space is not None:
            self.peak_shm = max(self.peak_shm or 0, space[2])
            if self.shm_before is None:
                self.shm_before = space[2]
        self.peak_segments = max(self.peak_segments, tree_segments_bytes(root, pids))
        if first_root is not None:
            self.cgroup_before = memory_counters(root, first_root, first_root_cgroup)
        self.seen = self.seen or bool(pids)

    def result(self) -> ObservedMemory | None:
        if not self.seen:
            return None
        memory = ObservedMemory(
            peak_pss_bytes=self.peak_pss,
            peak_uss_bytes=self.peak_uss,
            peak_processes_at=self.processes_at_peak,
            peak_shm_used_bytes=self.peak_shm,
            shm_used_before_bytes=self.shm_before,
            peak_segments_bytes=self.peak_segments,
        )
        before = self.cgroup_before
        if before is not None:  # read again from its directory: the root may be gone
            after = counters_at(before.path, before.version)
            memory.cgroup_path = str(after.path)
            memory.cgroup_peak_bytes = after.peak_bytes
            memory.cgroup_limit_bytes = after.limit_bytes
        return memory


class TreeSampler:
    """Samples ``root_pid`` (and, with ``tree``, its descendants) until told to stop.

    With ``from_birth`` the counters at the first sample count in full (the command was
    started just before); otherwise the first sample is the baseline. ``target`` is the
    diagnosed process (``--pid``) as already read: its environment is not read again.
    """

    def __init__(
        self,
        root_pid: int,
        *,
        cpus: int | None,
        tree: bool = True,
        root: Path = LIVE_ROOT,
        from_birth: bool = False,
        started: float | None = None,
        oom_before: dict[str, int] | None = None,
        target: Target | None = None,
    ) -> None:
        self.root_pid = root_pid
        self.target = target
        self.cpus = cpus
        self.tree = tree
        self.root = root
        self.from_birth = from_birth
        self.parents = ParentTable(root)
        self.processes: dict[int, _Process] = {}
        self.timeline: list[TimelinePoint] = []
        self.errors: list[ErrorEntry] = []
        self.started = time.monotonic() if started is None else started
        self.last_at: float | None = None
        self.samples = 0
        self.interval = MIN_INTERVAL
        self.own_cpu = 0.0
        self.oversubscribed_seconds = 0.0
        self.peak_processes = 0
        self.schedstat_missing = False
        self.memory = _MemoryTrack()
        # the out-of-memory counters of the root's memory cgroup and its ancestors when
        # the window opened (given: read before the command started; else at the first look)
        self.oom_before = oom_before

    # --- one sample -----------------------------------------------------------

    def _members(self) -> list[int]:
        alive = [pid for pid, proc in self.processes.items() if proc.alive]
        if not self.tree:
            return [self.root_pid] if os.path.exists(proc_dir(self.root, self.root_pid)) else []
        self.parents.refresh()
        return self.parents.descendants(self.root_pid, alive)

    def _parent(self, pid: int) -> int:
        known = self.parents.parents.get(pid)
        if known is not None:
            return known
        stat = read_small(str(proc_dir(self.root, pid) / "stat"))
        return (parse_ppid(stat) if stat is not None else None) or 0

    def _error(self, proc: _Process, what: str, exc: OSError) -> None:
        if what in proc.errors_reported:
            return
        proc.errors_reported.add(what)
        reason = exc.strerror or type(exc).__name__
        self.errors.append(
            ErrorEntry(
                section=SECTION,
                message=f"pid {proc.pid} ({proc.name}): {what} not read: "
                f"{type(exc).__name__}: {reason}",
            )
        )

    def _read_static(self, proc: _Process) -> None:
        """Name, command line, environment and libraries: read again as the process ages."""
        proc.static_reads += 1
        name = read_small(str(proc_dir(self.root, proc.pid) / "comm"))
        if name is not None:
            proc.name = name.decode("utf-8", "replace").strip()
        proc.command = read_command(self.root, proc.pid) or proc.command
        try:
            env = self._environ(proc.pid)
            if env:  # a zombie's environment reads empty: keep what was read while it lived
                proc.env = threading_env(env)
        except (FileNotFoundError, ProcessLookupError):
            pass  # it has just exited
        except OSError as exc:  # another user's process, without root
            self._error(proc, "environment", exc)
        try:
            # Libraries once loaded stay counted: a zombie's maps are empty.
            loaded = read_threading_libraries(self.root, proc.pid)
            proc.libraries = sorted(set(proc.libraries) | set(loaded))
        except (FileNotFoundError, ProcessLookupError):
            pass
        except OSError as exc:
            self._error(proc, "threading libraries (maps)", exc)

    def _root_cgroup(self) -> CgroupView | None:
        """The diagnosed process's cgroups as its target read them (None: discover them)."""
        target = self.target
        return target.cgroup if target is not None and target.pid == self.root_pid else None

    def _environ(self, pid: int) -> Mapping[str, str]:
        """A process's environment; the diagnosed process's as its target read it, once."""
        target = self.target
        if target is None or target.pid != pid:
            return read_environ(self.root, pid)
        if target.environ_error is not None:
            raise target.environ_error
        return target.environ

    def _static_due(self, proc: _Process, now: float) -> bool:
        reads = proc.static_reads
        if reads == 0:
            return True
        ages = STATIC_REFRESH_AGES
        due_age = ages[reads - 1] if reads - 1 < len(ages) else ages[-1] * (reads - len(ages) + 1)
        return now - proc.first_seen >= due_age

    def sample(self, final: bool = False) -> None:
        """Read the tree once; the growth since the last sample becomes a timeline point."""
        own_start = time.thread_time()
        now = time.monotonic()
        first = self.last_at is None
        members = self._members()
        seen = set(members)
        run_sum = wait_sum = 0
        thread_count = 0
        for pid in members:
            proc = self.processes.get(pid)
            born = proc is None
            if proc is None:
                proc = _Process(pid, self._parent(pid), now, now)
                self.processes[pid] = proc
            base = str(proc_dir(self.root, pid))
            tids = list_tids(self.root, pid)
            if not tids:
                seen.discard(pid)
                continue
            # A process that starts more threads than ever has likely just loaded a
            # threading library (LensKit's Rayon pool, torch's): read its maps again now,
            # not only at the next age, or a short run is over before LensKit is seen.
            if born or final or len(tids) > proc.threads or self._static_due(proc, now):
                self._read_static(proc)
            proc.last_seen = now
            proc.threads = max(proc.threads, len(tids))
            # Counters found at the first sample are a baseline (they grew before the window)
            # unless the run is watched from its birth; later newcomers were born inside it.
            count_in_full = not first or self.from_birth
            proc_run = proc_wait = 0
            for tid in tids:
                counters = read_thread_schedstat(base, tid)
                if counters is None:
                    if os.path.exists(f"{base}/task/{tid}"):
                        self.schedstat_missing = True
                    continue
                previous = proc.counters.get(tid)
                if previous is None:
                    if tid not in proc.thread_names:
                        name = read_small(f"{base}/task/{tid}/comm")
                        proc.thread_names[tid] = (
                            name.decode("utf-8", "replace").strip() if name else "?"
                        )
                    previous = (0, 0) if count_in_full else counters
                proc_run += counters[0] - previous[0]
                proc_wait += counters[1] - previous[1]
                proc.counters[tid] = counters
            proc.counters = {tid: proc.counters[tid] for tid in tids if tid in proc.counters}
            proc.run_ns += proc_run
            proc.wait_ns += proc_wait
            run_sum += proc_run
            wait_sum += proc_wait
            thread_count += len(tids)
            if final and read_thread_state(base, pid) in ("Z", "X"):
                seen.discard(pid)  # ended; a zombie until its parent reaps it
            if self.last_at is not None and now - self.last_at >= SHORTEST_SPAN:
                span = now - self.last_at
                proc.peak_runnable = max(proc.peak_runnable, (proc_run + proc_wait) / 1e9 / span)
        for pid, proc in self.processes.items():
            if proc.alive and pid not in seen:
                proc.alive = False
        self.peak_processes = max(self.peak_processes, len(seen))
        first_root = self.root_pid if first else None
        self.memory.sample(self.root, sorted(seen), first_root, self._root_cgroup())
        if first and self.oom_before is None:
            self.oom_before = read_oom_kills(self.root, self.root_pid, self._root_cgroup())
        if self.last_at is not None:
            self._add_point(now, run_sum, wait_sum, len(seen), thread_count)
        self.last_at = now
        self.samples += 1
        cost = time.thread_time() - own_start
        self.own_cpu += cost
        # Sample as often as the observer's own budget allows, within the bounds.
        wanted = cost / TARGET_OWN_SHARE
        self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, 0.5 * self.interval + 0.5 * wanted))

    def _add_point(
        self, now: float, run_ns: int, wait_ns: int, processes: int, threads: int
    ) -> None:
        """A timeline point for the interval that ends ``now``; an interval too short to
        average over (the final look, just after the last) is merged into the one before."""
        span = max(now - (self.last_at or now), 1e-6)
        if span < SHORTEST_SPAN and self.timeline:
            last = self.timeline.pop()
            self._count_oversubscribed(last.runnable, -last.seconds)
            run_ns += int((last.runnable - last.waiting) * last.seconds * 1e9)
            wait_ns += int(last.waiting * last.seconds * 1e9)
            span += last.seconds
        runnable = (run_ns + wait_ns) / 1e9 / span
        self._count_oversubscribed(runnable, span)
        self.timeline.append(
            TimelinePoint(
                at=round(now - self.started, 3),
                seconds=round(span, 3),
                runnable=round(runnable, 2),
                waiting=round(wait_ns / 1e9 / span, 2),
                processes=processes,
                threads=threads,
            )
        )

    def _count_oversubscribed(self, runnable: float, seconds: float) -> None:
        if self.cpus is not None and runnable > self.cpus * OVERSUBSCRIBED_MARGIN:
            self.oversubscribed_seconds += seconds

    # --- the window ---------------------------------------------------------------

    def run(
        self,
        done: Callable[[], bool],
        wait: Callable[[float], None] = time.sleep,
        on_sample: Callable[[TreeSampler], None] | None = None,
    ) -> None:
        """Sample until ``done()``; ``wait(seconds)`` sleeps between samples."""
        if not self.from_birth:  # the window starts at the first look
            self.started = time.monotonic()
        while True:
            self.sample()
            if on_sample is not None:
                on_sample(self)
            if done():
                break
            wait(self.interval)
        self.sample(final=True)

    def run_for(
        self, seconds: float, on_sample: Callable[[TreeSampler], None] | None = None
    ) -> None:
        """Sample for ``seconds`` (``--pid``), or until the root exits."""
        deadline = time.monotonic() + seconds

        def done() -> bool:
            root = self.processes.get(self.root_pid)
            return time.monotonic() >= deadline or (root is not None and not root.alive)

        def wait(interval: float) -> None:
            time.sleep(max(0.0, min(interval, deadline - time.monotonic())))

        self.run(done, wait, on_sample)

    # --- the result -------------------------------------------------------------

    def _depth(self, pid: int) -> int:
        depth = 0
        while pid != self.root_pid and pid in self.processes and depth <= 64:
            pid, depth = self.processes[pid].ppid, depth + 1
        return depth

    def lenskit_pid(self) -> int:
        """The process that runs LensKit: the shallowest with LensKit's extension mapped
        (a wrapper such as ``bash -c`` or ``uv run`` above it adds no plan level); the
        root when none has it."""
        running = [pid for pid, proc in self.processes.items() if LENSKIT_LIBRARY in proc.libraries]
        return min(
            running,
            key=lambda pid: (self._depth(pid), self.processes[pid].first_seen),
            default=self.root_pid,
        )

    def _levels(self) -> dict[int, tuple[int, bool, bool]]:
        """``pid → (level, helper, wrapper)``: the LensKit process is level 0; a helper adds
        no level; a process outside its subtree (the wrapper that started it) has none."""
        anchor = self.lenskit_pid()
        result: dict[int, tuple[int, bool, bool]] = {}

        def level_of(pid: int, depth: int = 0) -> tuple[int, bool, bool]:
            if pid in result:
                return result[pid]
            proc = self.processes[pid]
            helper = bool(HELPER_COMMAND.search(proc.command))
            if pid == anchor:
                value = (0, helper, False)
            elif pid == self.root_pid or proc.ppid not in self.processes or depth > 64:
                outside = anchor != self.root_pid or pid == self.root_pid
                value = (0 if outside else 1, helper, outside and pid != anchor)
            else:
                parent_level, parent_helper, parent_outside = level_of(proc.ppid, depth + 1)
                if parent_outside:
                    value = (0, helper, True)
                else:
                    value = (parent_level + (0 if parent_helper else 1), helper, False)
            result[pid] = value
            return value

        for pid in self.processes:
            level_of(pid)
        return result

    def result(self) -> Collected[Observed | None]:
        """The observation, or None when the root was never seen."""
        errors = list(self.errors)
        if self.schedstat_missing:
            errors.append(
                ErrorEntry(
                    section=SECTION,
                    message="some threads have no readable schedstat "
                    "(kernel without CONFIG_SCHED_INFO?); their time is not counted",
                )
            )
        if self.root_pid not in self.processes or self.last_at is None:
            errors.append(ErrorEntry(section=SECTION, message=f"pid {self.root_pid} was not seen"))
            return Collected(None, errors)
        window = max(self.last_at - self.started, 1e-6)
        levels = self._levels()
        rows = []
        for pid, proc in sorted(self.processes.items(), key=lambda item: item[1].first_seen):
            level, helper, wrapper = levels[pid]
            running = proc.run_ns / 1e9 / window
            waiting = proc.wait_ns / 1e9 / window
            rows.append(
                ObservedProcess(
                    pid=pid,
                    ppid=proc.ppid,
                    name=proc.name,
                    command=proc.command,
                    level=level,
                    helper=helper,
                    wrapper=wrapper,
                    threads=proc.threads,
                    thread_names=dict(Counter(proc.thread_names.values()).most_common()),
                    avg_running=round(running, 2),
                    avg_waiting=round(waiting, 2),
                    avg_runnable=round(running + waiting, 2),
                    peak_runnable=round(proc.peak_runnable, 2),
                    cpu_seconds=round(proc.run_ns / 1e9, 3),
                    wait_seconds=round(proc.wait_ns / 1e9, 3),
                    first_seen=round(proc.first_seen - self.started, 3),
                    last_seen=round(proc.last_seen - self.started, 3),
                    exited=not proc.alive,
                    libraries=proc.libraries,
                    env=proc.env,
                )
            )
        run_ns = sum(p.run_ns for p in self.processes.values())
        wait_ns = sum(p.wait_ns for p in self.processes.values())
        running, waiting = run_ns / 1e9 / window, wait_ns / 1e9 / window
        observed = Observed(
            root_pid=self.root_pid,
            lenskit_pid=self.lenskit_pid(),
            tree=self.tree,
            seconds=round(window, 3),
            cpus=self.cpus,
            samples=self.samples,
            interval=round(window / max(self.samples - 1, 1), 3),
            avg_runnable=round(running + waiting, 2),
            avg_running=round(running, 2),
            avg_waiting=round(waiting, 2),
            cpu_seconds=round(run_ns / 1e9, 3),
            wait_seconds=round(wait_ns / 1e9, 3),
            wait_share=round(wait_ns / (run_ns + wait_ns), 3) if run_ns + wait_ns else 0.0,
            oversubscribed_share=round(self.oversubscribed_seconds / window, 3),
            peak_runnable=max((point.runnable for point in self.timeline), default=0.0),
            peak_processes=self.peak_processes,
            processes=rows,
            timeline=self.timeline,
            observer_cpu_seconds=round(self.own_cpu, 3),
            memory=self.memory.result(),
            oom_kills=oom_kills_since(self.oom_before) if self.oom_before else None,
        )
        return Collected(observed, errors)


def observe_target(
    target: Target,
    seconds: float,
    *,
    cpus: int | None,
    tree: bool = True,
    on_sample: Callable[[TreeSampler], None] | None = None,
) -> Collected[Observed | None]:
    """``--pid``: watch the target process (and its tree) for ``seconds``, read-only."""
    if target.pid is None:
        raise ValueError("the target is this process: --pid names another one")
    sampler = TreeSampler(target.pid, cpus=cpus, tree=tree, root=target.root, target=target)
    sampler.run_for(seconds, on_sample)
    result = sampler.result()
    if result.value is not None:
        result.value.totals = sampled_totals(result.value.cpu_seconds, PID_TOTALS_REASON)
    return result
