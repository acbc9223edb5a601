"""lkdoctor: the `lenskit doctor` command.

How many CPUs this process really has, what LensKit will do with them, and
whether the result oversubscribes the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

try:
    __version__ = version("lkdoctor")  # one version, kept in Cargo.toml
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from lkdoctor.model import Report

__all__ = ["__version__", "collect"]


def collect(
    *,
    bench: bool = False,
    apply: bool = False,
    pid: int | None = None,
    root: Path | str = "/",
    environ: Mapping[str, str] | None = None,
    sample_time: float = 1.0,
    packages: bool = False,
    paths: bool = False,
    redact: bool = False,
) -> Report:
    """Collect and analyse a report on this process (or ``pid``), as a model.

    Without ``apply`` nothing in the caller's process changes; with it, level 0
    of the plan is applied first, as LensKit's ``initialize()`` would.

    Secrets in the environment are always masked; ``redact`` also hides the user name,
    host name and home folder. Imported lazily so ``import lkdoctor`` stays cheap.
    """
    from lkdoctor.pipeline import collect as _collect

    return _collect(
        bench=bench,
        apply=apply,
        pid=pid,
        root=root,
        environ=environ,
        sample_time=sample_time,
        packages=packages,
        paths=paths,
        redact=redact,
    )
