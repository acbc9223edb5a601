"""Another process's threading variables (``--pid``, ``-- COMMAND``): read, then filtered.

Its threads are observed by :mod:`lkdoctor.observe.sampler`, one path for a whole tree and
for ``--single-process`` alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from lkdoctor.host.proc import read_environ

#: The variables that steer thread pools; only these are copied from another process.
THREADING_ENV = re.compile(r"^(LK_|OMP_|MKL_|OPENBLAS_|RAYON_)")


def threading_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Only the variables that steer thread pools (another process's other variables may be secret)."""
    return {name: value for name, value in sorted(environ.items()) if THREADING_ENV.match(name)}


def target_environ(root: Path, pid: int) -> dict[str, str]:
    """``pid``'s environment as it was at exec (PermissionError when not ours to read)."""
    return read_environ(root, pid)
