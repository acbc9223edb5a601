"""Another process's threading variables (``--pid``, ``-- COMMAND``): read, then filtered.

Its threads are observed by :mod:`lkdoctor.observe.sampler`, one path for a whole tree and
for ``--single-process`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lkdoctor.host.proc import read_environ
from lkdoctor.pools.kinds import VARIABLE_PREFIXES

#: The variables that steer thread pools; only these are copied from another process.
#: LensKit's variables and every pool kind's (a process's threading environment).
THREADING_ENV_PREFIXES = ("LK_", *VARIABLE_PREFIXES)


def threading_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Only the variables that steer thread pools (another process's other variables may be secret)."""
    return {
        name: value
        for name, value in sorted(environ.items())
        if name.startswith(THREADING_ENV_PREFIXES)
    }


def target_environ(root: Path, pid: int) -> dict[str, str]:
    """``pid``'s environment as it was at exec (PermissionError when not ours to read)."""
    return read_environ(root, pid)
