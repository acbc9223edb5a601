"""Another process's threading variables (``--pid``, ``-- COMMAND``), filtered from its
environment (read once, by :mod:`lkdoctor.target`; a tree's other processes by the sampler).

Its threads are observed by :mod:`lkdoctor.observe.sampler`, one path for a whole tree and
for ``--single-process`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping

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
