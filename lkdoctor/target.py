"""The diagnosed process, turned into facts once per report.

A report is about one process: this one, or another one's pid (``--pid``); a command the
doctor runs (``-- COMMAND``, ``--compare``) inherits this one's. :func:`read_target` reads
what every section needs to know about it — its environment, working folder, command
line, affinity and cgroup — from the host readers, once, at the start of the pipeline;
each collector is handed the :class:`Target` instead of reading ``/proc`` again, so every
section describes the same moment. What could not be read is kept as the error it was,
for the section that needs it to report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lkdoctor.host import cgroup
from lkdoctor.host.proc import (
    LIVE_ROOT,
    read_affinity,
    read_cmdline,
    read_cwd,
    read_environ,
)


@dataclass(frozen=True)
class Target:
    """What the report's sections know about the diagnosed process."""

    #: None: this process
    pid: int | None
    #: ``/`` on a live system, a fixture tree in tests
    root: Path
    #: its environment: ours as found, or another process's as it was at exec (empty when
    #: it could not be read; then ``environ_error`` says why)
    environ: Mapping[str, str]
    environ_error: OSError | None
    #: its working folder; None when unknown (another user's process, a deleted folder)
    cwd: Path | None
    #: another process's command line (empty for this process, or when unreadable)
    command: tuple[str, ...]
    #: the CPUs it may run on (None when unknown), and where that was read
    affinity: frozenset[int] | None
    affinity_source: str
    #: its cgroup memberships and the cgroup mounts (None when discovery failed: then
    #: ``cgroup_error`` is the exception)
    cgroup: cgroup.CgroupView | None
    cgroup_error: Exception | None

    @property
    def foreign(self) -> bool:
        """Whether it is another process (``--pid``), inspected read-only."""
        return self.pid is not None

    @property
    def live(self) -> bool:
        """Whether it is a process of this machine (not a fixture tree)."""
        return self.root == LIVE_ROOT

    def foreign_affinity(self) -> set[int] | None:
        """The CPUs of another live process, for what must run as it would (LensKit's own
        code in a child); None for this process, whose children inherit its CPUs."""
        if not self.foreign or not self.live or self.affinity is None:
            return None
        return set(self.affinity)


def read_target(
    root: Path = LIVE_ROOT, *, pid: int | None = None, environ: Mapping[str, str] | None = None
) -> Target:
    """Read the facts of process ``pid`` (None: this one) under ``root``, once.

    ``environ`` stands for its environment when given (a caller who knows it better);
    else this process's ``os.environ`` as found, or ``pid``'s ``/proc/PID/environ``.
    """
    environ_error: OSError | None = None
    if environ is not None:
        env: Mapping[str, str] = environ
    elif pid is None:
        env = dict(os.environ)
    else:
        try:
            env = read_environ(root, pid)
        except OSError as exc:  # another user's process, or one that has just ended
            env, environ_error = {}, exc
    view: cgroup.CgroupView | None = None
    cgroup_error: Exception | None = None
    try:
        view = cgroup.discover(root, pid)
    except Exception as exc:  # a malformed file: the sections that need it say so
        cgroup_error = exc
    affinity, affinity_source = read_affinity(root, pid)
    return Target(
        pid=pid,
        root=root,
        environ=env,
        environ_error=environ_error,
        cwd=read_cwd(root, pid),
        command=tuple(read_cmdline(root, pid)) if pid is not None else (),
        affinity=affinity,
        affinity_source=affinity_source,
        cgroup=view,
        cgroup_error=cgroup_error,
    )
