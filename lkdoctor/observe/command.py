"""``lenskit doctor -- COMMAND``: run a command untouched and watch its tree until it exits.

The command inherits stdin, stdout and stderr. Signals sent to the doctor are passed on:
while the command runs they are blocked here and taken with ``sigtimedwait`` (which is
also the sampler's sleep), so the sender is known. A Ctrl-C from the terminal reaches the
whole foreground process group, the command included, so it is passed on only when the
command has left our group; a signal sent to the doctor alone (``kill``) is always passed on.

Where the machine allows it, the command starts inside a cgroup of its own, whose counters
are the run's totals (``observed.totals``, see :mod:`lkdoctor.observe.totals`); the group
is removed when the run ends, however it ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lkdoctor.collected import Collected
from lkdoctor.host.cgroup import read_oom_kills
from lkdoctor.host.proc import LIVE_ROOT
from lkdoctor.model import ErrorEntry, Observed, RunTotals
from lkdoctor.observe.sampler import SECTION, TreeSampler
from lkdoctor.observe.totals import RunGroup, cgroup_totals, create_run_group, sampled_totals

#: Signals a user sends to stop or poke a run; all are passed on to the command.
FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)

#: si_code of a signal the kernel sent (the terminal's Ctrl-C), as opposed to kill().
SI_KERNEL = 0x80


@dataclass
class CommandRun:
    observed: Collected[Observed | None]
    exit_status: int
    forwarded: list[str]
    #: every signal that arrived while the command ran, passed on or not
    received: list[str] = field(default_factory=list)


def shell_status(returncode: int) -> int:
    """A returncode as the shell shows it: 128 + N when killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def _same_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == os.getpgrp()
    except OSError:
        return False


def run_command(
    command: Sequence[str],
    *,
    cpus: int | None,
    progress: Callable[[TreeSampler], None] | None = None,
    env: Mapping[str, str] | None = None,
    cgroup_root: Path | None = LIVE_ROOT,
) -> CommandRun:
    """Run ``command`` (in ``env``, default ours), observe its tree from start to exit;
    FileNotFoundError / PermissionError when it cannot be started. The command runs in
    a cgroup of its own below ours under ``cgroup_root`` when one can be made (None: never)."""
    # Signals that arrive before the mask is in place are remembered, then passed on.
    early: list[int] = []
    previous = {sig: signal.signal(sig, lambda n, _f: early.append(n)) for sig in FORWARDED}
    group: RunGroup | str = "not asked for"
    # the command shares our memory cgroup: its counters from before the start count the
    # run's kills, those of a worker killed at once too (None: the sampler's first look)
    oom_before = read_oom_kills(cgroup_root) if cgroup_root is not None else None
    try:
        if cgroup_root is not None:
            group = create_run_group(cgroup_root)
        started = time.monotonic()
        child = subprocess.Popen(
            list(command),
            env=None if env is None else dict(env),
            # born inside its group, so every process it starts is counted there
            preexec_fn=group.enter_from_child if isinstance(group, RunGroup) else None,
        )
    except BaseException:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if isinstance(group, RunGroup):
            group.remove()
        raise
    # read before the command is reaped (its /proc entry goes with it)
    entered = isinstance(group, RunGroup) and group.holds(child.pid)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    forwarded: list[str] = []
    received: list[str] = []

    def forward(signum: int, from_kernel: bool) -> None:
        received.append(signal.Signals(signum).name)
        if from_kernel and _same_group(child.pid):
            return  # the terminal already sent it to the command's group
        try:
            os.kill(child.pid, signum)
            forwarded.append(signal.Signals(signum).name)
        except ProcessLookupError:
            pass

    def forward_early() -> None:
        # Signals taken by the Python handler: before the mask was set, or delivered to a
        # thread started earlier that does not block them (the progress line's).
        while early:
            forward(early.pop(0), from_kernel=False)

    forward_early()

    def exited() -> bool:
        # WNOWAIT: the command stays a zombie, so its last counters can still be read.
        try:
            info = os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def wait(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            forward_early()
            info = signal.sigtimedwait(FORWARDED, left)
            if info is None:
                return
            forward(info.si_signo, from_kernel=info.si_code == SI_KERNEL)
            if exited():
                return

    sampler = TreeSampler(
        child.pid, cpus=cpus, from_birth=True, started=started, oom_before=oom_before
    )
    totals: RunTotals | str = group if isinstance(group, str) else "the cgroup was not read"
    left_behind: str | None = None
    try:
        sampler.run(exited, wait, progress)
    finally:
        returncode = child.wait()
        # Pending signals (sent as the command ended) are dropped, not delivered to us.
        while signal.sigtimedwait(FORWARDED, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if isinstance(group, RunGroup):
            try:
                totals = cgroup_totals(group, entered)
            finally:
                left_behind = group.remove()
    result = sampler.result()
    if left_behind is not None:
        result.errors.append(ErrorEntry(section=SECTION, message=left_behind))
    status = shell_status(returncode)
    if result.value is not None:
        result.value.command = list(command)
        result.value.exit_status = status
        if isinstance(totals, str):
            totals = sampled_totals(result.value.cpu_seconds, f"no cgroup of its own: {totals}")
        result.value.totals = totals
    return CommandRun(result, status, forwarded, received)
