"""``--pid``: a read-only look at another process's threads over a short window.

The average number of runnable threads comes from ``schedstat`` (time on a CPU
plus time waiting for one, per thread, divided by the window), which counts every
moment rather than the instants a sampler happens to look; sampled thread states
are the fallback when the kernel has no schedstat.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lkdoctor.collected import Collected, guard
from lkdoctor.host.pool_kinds import VARIABLE_PREFIXES
from lkdoctor.host.proc import (
    LIVE_ROOT,
    STATE_NAMES,
    TaskStat,
    clock_ticks,
    proc_dir,
    read_environ,
    read_nonvoluntary_switches,
    read_schedstat,
    read_task_stats,
    read_threading_libraries,
    task_ids,
)
from lkdoctor.model import Pools, ProcessSample
from lkdoctor.pools.live import threads_snapshot

#: The variables that steer thread pools; only these are copied from another process.
#: LensKit's variables and every pool kind's (a process's threading environment).
THREADING_ENV_PREFIXES = ("LK_", *VARIABLE_PREFIXES)

#: The sampler reads every thread's stat this often; 20 ms keeps its own cost small.
SAMPLE_INTERVAL = 0.02

RUNNABLE_STATES = frozenset({"R"})


def threading_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Only the variables that steer thread pools (another process's other variables may be secret)."""
    return {
        name: value
        for name, value in sorted(environ.items())
        if name.startswith(THREADING_ENV_PREFIXES)
    }


@dataclass
class _Counters:
    at: float
    schedstat: dict[int, tuple[int, int]]
    switches: dict[int, int]


def _read_counters(root: Path, pid: int) -> _Counters:
    schedstat = {}
    for tid in task_ids(root, pid):
        value = read_schedstat(root, pid, tid)
        if value is not None:
            schedstat[tid] = value
    return _Counters(time.monotonic(), schedstat, read_nonvoluntary_switches(root, pid))


def _delta_sum(start: dict[int, int], end: dict[int, int]) -> int:
    """Growth over the window; threads born inside it count from zero, exited ones drop out."""
    return sum(value - start.get(tid, 0) for tid, value in end.items())


def _read_states(root: Path, pid: int) -> list[TaskStat]:
    try:
        return read_task_stats(root, pid)
    except FileNotFoundError as exc:
        raise ProcessLookupError(f"process {pid} exited while it was sampled") from exc


def _rates(first: _Counters, last: _Counters, window: float) -> dict[str, float | None]:
    """Average CPUs used, threads waiting, and preemptions per second over the window."""
    rates: dict[str, float | None] = {"running": None, "waiting": None, "switches": None}
    if last.schedstat:
        for index, key in enumerate(("running", "waiting")):
            start = {tid: value[index] for tid, value in first.schedstat.items()}
            end = {tid: value[index] for tid, value in last.schedstat.items()}
            rates[key] = _delta_sum(start, end) / 1e9 / window
    if last.switches:
        rates["switches"] = _delta_sum(first.switches, last.switches) / window
    return rates


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def sample_process(
    pid: int, seconds: float = 1.0, root: Path = LIVE_ROOT
) -> tuple[ProcessSample, list[TaskStat]]:
    """Sample ``pid``'s threads for ``seconds``; returns the sample and the last thread list."""
    first = _read_counters(root, pid)
    state_totals: Counter[str] = Counter()
    samples = 0
    while True:
        stats = _read_states(root, pid)
        state_totals.update(stat.state for stat in stats)
        samples += 1
        if time.monotonic() - first.at >= seconds:
            break
        time.sleep(SAMPLE_INTERVAL)
    last = _read_counters(root, pid)
    window = max(last.at - first.at, 1e-6)
    rates = _rates(first, last, window)
    running, waiting = rates["running"], rates["waiting"]
    from_schedstat = running is not None and waiting is not None
    sampled_runnable = sum(state_totals[state] for state in RUNNABLE_STATES) / samples
    sample = ProcessSample(
        pid=pid,
        name=(proc_dir(root, pid) / "comm").read_text().strip(),
        seconds=round(window, 3),
        samples=samples,
        threads=len(stats),
        avg_runnable=round(
            (running or 0) + (waiting or 0) if from_schedstat else sampled_runnable, 2
        ),
        avg_running=_rounded(running),
        avg_waiting=_rounded(waiting),
        runnable_source="schedstat" if from_schedstat else "sampled-states",
        avg_states={
            STATE_NAMES.get(state, state): round(count / samples, 2)
            for state, count in state_totals.most_common()
        },
        nonvoluntary_switches_per_s=_rounded(rates["switches"], 1),
    )
    return sample, stats


def target_environ(root: Path, pid: int) -> dict[str, str]:
    """``pid``'s environment as it was at exec (PermissionError when not ours to read)."""
    return read_environ(root, pid)


def collect_process(
    root: Path, pid: int, seconds: float, environ: Mapping[str, str], cpus: int | None
) -> Collected[Pools]:
    """``pid``'s threads sampled over ``seconds`` (read-only); ``cpus`` is its CPU budget."""
    sample, stats = sample_process(pid, seconds, root)
    sample.cpus = cpus
    sample.env = threading_env(environ)
    # maps needs ptrace access: another user's process, without root, is not ours to read
    libraries = guard(
        "pools", lambda: read_threading_libraries(root, pid), part="threading libraries not read"
    )
    sample.libraries = libraries.value or {}
    pools = Pools(threads=threads_snapshot(stats, clock_ticks()), process=sample)
    return Collected(pools, libraries.errors)
