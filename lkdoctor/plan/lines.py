"""The registry of LensKit lines (dialects), which one a plan is resolved in, and the line
of a plan (by its ``dialect``): the one place that maps a name to a line.

Adding a LensKit line is one folder beside ``lenskit2025/`` and ``lenskit2026/`` that
defines a `LensKitLine`, plus one entry in `LINES`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lkdoctor.host.lenskit import (
    installed_lenskit_version,
    lenskit_cli_loaded,
    loaded_parallel_config,
)
from lkdoctor.plan.lenskit2025 import LENSKIT_2025
from lkdoctor.plan.lenskit2026 import LENSKIT_2026
from lkdoctor.plan.line import AppliedSetup, LensKitLine

if TYPE_CHECKING:
    from lkdoctor.model import PlanBase

#: Every LensKit line lkdoctor knows, oldest first.
LINES: tuple[LensKitLine, ...] = (LENSKIT_2025, LENSKIT_2026)


def dialect_names() -> tuple[str, ...]:
    return tuple(line.name for line in LINES)


def line_named(name: str) -> LensKitLine | None:
    """The registered line called ``name``; None for one not registered."""
    return next((line for line in LINES if line.name == name), None)


def dialect_named(name: str) -> LensKitLine:
    """The line called ``name`` (a plan's ``dialect``); KeyError for an unknown one."""
    line = line_named(name)
    if line is None:
        raise KeyError(f"no LensKit dialect {name!r} (known: {', '.join(dialect_names())})")
    return line


def line_of(plan: PlanBase) -> LensKitLine:
    """The line a plan was resolved in (its ``dialect``); KeyError for an unregistered one."""
    return dialect_named(plan.dialect)


def applied_setup() -> AppliedSetup | None:
    """What the LensKit loaded in this process applied when it set up its pools; None when it
    has not (LensKit is never imported here). Each line reads its own release's names."""
    names = loaded_parallel_config()
    if names is None:
        return None
    by_cli = lenskit_cli_loaded()
    found = (line.applied_setup(names, by_cli) for line in LINES)
    return next((setup for setup in found if setup is not None), None)


def dialect_of_version(version: str) -> LensKitLine | None:
    """The line a LensKit release belongs to; None when ``version`` is not a LensKit year."""
    year = version.split(".", 1)[0]
    if not year.isdigit():
        return None
    covering = [line for line in LINES if line.first_year <= int(year)]
    return max(covering, key=lambda line: line.first_year, default=None)


@dataclass(frozen=True)
class ChosenDialect:
    """Which line the plan is resolved in, and why."""

    line: LensKitLine
    version: str | None  # the installed LensKit, None when none is installed
    reason: str

    @property
    def dialect(self) -> str:
        return self.line.name


def detect_dialect(
    override: str | None = None,
    *,
    version: str | None = None,
    python: tuple[int, int, int] | None = None,
) -> ChosenDialect:
    """The line of the installed LensKit; with none installed, the one pip would install.

    ``override`` (the user's choice) wins; ``version`` and ``python`` default to the
    installed LensKit's version and this interpreter's.
    """
    installed = installed_lenskit_version() if version is None else version
    newest = max(LINES, key=lambda line: line.first_year)
    if override is not None:
        why = f"chosen with --dialect {override}"
        if installed:
            why += f" (LensKit {installed} is installed)"
        return ChosenDialect(dialect_named(override), installed, why)
    if installed:
        line = dialect_of_version(installed)
        if line is not None:
            return ChosenDialect(line, installed, f"LensKit {installed} is installed")
        return ChosenDialect(
            newest,
            installed,
            f"LensKit {installed} is installed; read as the current {newest.name}.x",
        )
    py = python or (sys.version_info.major, sys.version_info.minor, sys.version_info.micro)
    shown = ".".join(map(str, py))
    line = max(
        (line for line in LINES if line.pip_installs_on(py)), key=lambda line: line.first_year
    )
    newer = [o.min_python for o in LINES if o.first_year > line.first_year and o.min_python]
    below = f" (< {'.'.join(map(str, min(newer)))})" if newer else ""
    why = f"no LensKit installed; pip installs {line.pip_release} on Python {shown}{below}"
    return ChosenDialect(line, None, why)
