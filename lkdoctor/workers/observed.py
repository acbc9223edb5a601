"""Workers seen in an observed tree (``--pid``, ``-- COMMAND``), and the run a signal ended.

A worker is recognised by its command line: spawned children run ``python -c "from
multiprocessing.spawn import spawn_main; …" --multiprocessing-fork``, the forkserver and
the resource tracker name their ``multiprocessing`` module. A forked child keeps its
parent's command line: a Python child with the same command line as its Python parent.
"""

from __future__ import annotations

import re
import signal
from typing import Literal

from lkdoctor.model import Observed, ObservedProcess, WorkerDeath, WorkerProcess

SPAWNED = re.compile(r"multiprocessing\.spawn\b|--multiprocessing-fork")
FORKSERVER = re.compile(r"multiprocessing\.forkserver\b")
TRACKER = re.compile(r"multiprocessing\.(resource_tracker|semaphore_tracker)\b")

#: What a signal that ends a batch run usually means.
SIGNAL_CAUSES = {
    "SIGKILL": (
        "out-of-memory",
        "SIGKILL with no kill by hand is the kernel's out-of-memory killer: the run (or its "
        "cgroup) hit its memory limit; every worker holds its own copy of the model's in-band "
        "data",
    ),
    "SIGBUS": (
        "shared-memory-full",
        "SIGBUS while writing shared memory: /dev/shm is full (Docker and Kubernetes give "
        "64 MiB by default); LensKit 2025 copies the model's arrays there for its workers",
    ),
    "SIGSEGV": ("crash", "a segmentation fault: a native library crashed"),
    "SIGTERM": ("terminated", "asked to stop (kill, a scheduler's time limit)"),
    "SIGINT": ("interrupted", "Ctrl-C"),
}


Kind = Literal["lenskit-worker", "spawn-worker", "forkserver", "fork-worker", "resource-tracker"]


def _kind(process: ObservedProcess, by_pid: dict[int, ObservedProcess]) -> Kind | None:
    if SPAWNED.search(process.command):
        return "spawn-worker"
    if FORKSERVER.search(process.command):
        return "forkserver"
    if TRACKER.search(process.command):
        return "resource-tracker"
    parent = by_pid.get(process.ppid)
    if (
        parent is not None
        and process.command
        and process.command == parent.command
        and "python" in process.name.lower() + process.command.split(" ", 1)[0].lower()
    ):
        return "fork-worker"
    return None


def worker_processes(observed: Observed) -> list[WorkerProcess]:
    """The tree's multiprocessing children, each with its start method."""
    by_pid = {p.pid: p for p in observed.processes}
    found: list[WorkerProcess] = []
    for process in observed.processes:
        kind = _kind(process, by_pid)
        if kind is None:
            continue
        parent = by_pid.get(process.ppid)
        if kind == "spawn-worker" and parent is not None and FORKSERVER.search(parent.command):
            method = "forkserver"
        elif kind == "spawn-worker":
            method = "spawn"
        elif kind == "fork-worker":
            method = "fork"
        else:
            # helpers are started by fork + exec of a fresh interpreter (spawnv_passfds)
            method = "exec" if kind == "resource-tracker" else "forkserver"
        evidence = {
            "spawn-worker": "command line names multiprocessing.spawn",
            "forkserver": "command line names multiprocessing.forkserver",
            "resource-tracker": "command line names multiprocessing.resource_tracker",
            "fork-worker": f"the same command line as its Python parent {process.ppid}",
        }[kind]
        if kind == "spawn-worker" and "lenskit" in " ".join(process.libraries):
            kind = "lenskit-worker"
        found.append(
            WorkerProcess(
                pid=process.pid,
                ppid=process.ppid,
                kind=kind,
                start_method=method,
                command=process.command,
                evidence=evidence,
            )
        )
    return found


def command_death(observed: Observed) -> WorkerDeath | None:
    """The watched command's end by a signal (exit status 128 + N), with its usual cause."""
    status = observed.exit_status
    if observed.command is None or status is None or status <= 128 or status > 128 + 64:
        return None
    try:
        name = signal.Signals(status - 128).name
    except ValueError:
        return None
    cause, meaning = SIGNAL_CAUSES.get(name, ("unknown", f"ended by {name}"))
    if name == "SIGKILL" and observed.oom_kills == 0:
        cause = "killed"
        meaning = (
            "SIGKILL, and the memory cgroup counted no out-of-memory kill: kill -9 or a scheduler"
        )
    elif name == "SIGKILL" and observed.oom_kills:
        meaning = (
            f"the memory cgroup counted {observed.oom_kills} out-of-memory kill(s) during the run"
        )
    return WorkerDeath(
        pid=observed.root_pid,
        who="command",
        signal=name,
        cause=cause,
        evidence=f"exit status {status} = 128 + {status - 128} ({name}): {meaning}",
    )


def oom_killed_workers(observed: Observed, workers: list[WorkerProcess]) -> list[WorkerDeath]:
    """Workers the kernel's out-of-memory killer ended while the command ran on: the
    run's memory cgroup counted kills, and these workers ended before the command did."""
    kills = observed.oom_kills
    if not kills or command_death(observed) is not None:
        return []
    by_pid = {p.pid: p for p in observed.processes}
    root = by_pid.get(observed.root_pid)
    end = root.last_seen if root is not None else observed.seconds
    gone = [
        w
        for w in workers
        if w.kind in ("lenskit-worker", "spawn-worker", "fork-worker")
        and by_pid[w.pid].exited
        and by_pid[w.pid].last_seen < end
    ]
    evidence = (
        f"the run's memory cgroup counted {kills} out-of-memory kill(s) (oom_kill) while it "
        f"ran, and worker(s) {', '.join(str(w.pid) for w in gone) or '(not seen)'} ended "
        "before the command: the parent then reports BrokenProcessPool"
    )
    if not gone:
        return [
            WorkerDeath(
                pid=None, who="worker", signal="SIGKILL", cause="out-of-memory", evidence=evidence
            )
        ]
    return [
        WorkerDeath(
            pid=w.pid, who="worker", signal="SIGKILL", cause="out-of-memory", evidence=evidence
        )
        for w in gone
    ]
