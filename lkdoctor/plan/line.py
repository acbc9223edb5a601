"""The seam between lkdoctor and a line of LensKit releases (a configuration dialect).

Each line is one folder under ``plan/`` (``lenskit2025/``, ``lenskit2026/``) holding one
`LensKitLine` object in its ``__init__.py``, with the same file roles in each:
``shape.py`` (the model of its plan, ``plan_shape``), ``settings.py`` (its settings read
from the environment and files), ``resolve.py`` (settings to levels, their demand and a
fitting suggestion: ``collect``), ``ask.py`` (the installed LensKit's own answer:
``start_answer``; and what it applied in this process: ``applied_setup``), ``checks.py``
(the line's findings: ``findings``), ``view.py`` (the rows both renderers format:
``details``) and ``workers.py`` (how its batch work runs: ``batch_workers``,
``unguarded_call``). The object also says which releases it covers and which Python pip
gives it to (detection), how ``--apply`` sets up its pools (``apply_steps``) and what a
Ray task of it runs (``ray_task``).

The registry of lines is :mod:`lkdoctor.plan.lines`; the rest of lkdoctor asks these
objects, found by the plan's ``dialect``, and never compares line names or plan types.
A method with a body here is what a line without its own gets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lkdoctor.model import ApplyStep, Finding, PlanBase, PlanLevel, Severity, Workers
    from lkdoctor.plan.view import PlanDetails


class DialectChoice(Protocol):
    """Why a plan is resolved in its dialect, and the installed LensKit (None: none)."""

    @property
    def reason(self) -> str: ...
    @property
    def version(self) -> str | None: ...


@dataclass(frozen=True)
class PlanRequest:
    """What a plan is resolved from."""

    lenskit_cpus: int  # the CPU count LensKit resolves with
    effective: int  # the CPUs really available
    environ: Mapping[str, str]
    reason: str = ""  # why this dialect
    version: str | None = None  # the installed LensKit, None when none is installed
    cwd: Path | None = None  # the diagnosed folder (None: ours)
    project_root: Path | None = None  # -R
    foreign: bool = False  # another process (--pid) is diagnosed
    affinity: set[int] | None = None  # its CPUs when it is not this process (--pid)
    ask_lenskit: bool = True  # LensKit's own code may be asked (start_answer follows)


@dataclass(frozen=True)
class RayTask:
    """What one Ray task of LensKit asks for and runs, on a node of the plan's CPUs."""

    cpus: int  # the num_cpus each task asks Ray for
    peak: int  # the threads it can keep busy at once
    single_threaded_env: dict[str, str]  # settings that make each task single-threaded


@dataclass(frozen=True)
class AppliedSetup:
    """LensKit's parallelism, already set up in this process before the doctor looked."""

    settings: dict[str, object]  # as LensKit holds them, by its own names
    threads: int | None  # the Rayon pool size LensKit asked for
    backend_threads: int | None  # torch intra-op (and BLAS) threads LensKit set
    by_cli: bool  # LensKit's `lenskit` command module is loaded: its root command did it


@dataclass(frozen=True)
class BatchFacts:
    """What lkdoctor knows of the place the line's batch work runs: the installed LensKit
    package (None: none found), Python's default start method, whether the GIL is on."""

    package: Path | None
    default_start_method: str
    gil_enabled: bool


def count_or_none(value: object) -> int | None:
    """``value`` when it is a count (an int, not a bool)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


#: Waits for LensKit's own answer (started beside the other sections) and puts it in the plan.
AttachAnswer = Callable[[], None]


class LensKitLine(ABC):
    """One line of LensKit releases: everything lkdoctor knows about its configuration."""

    #: The name the plan's ``dialect`` key and ``--dialect`` use.
    name: str
    #: The first release year of the line; it covers every later year up to the next line's.
    first_year: int
    #: The oldest Python pip installs this line on; None: every Python lkdoctor runs on.
    min_python: tuple[int, int, int] | None = None
    #: What pip installs of this line, as the detection reason names it ("2025.8", "2026.x").
    pip_release: str

    def pip_installs_on(self, python: tuple[int, int, int]) -> bool:
        return self.min_python is None or python >= self.min_python

    @abstractmethod
    def plan_shape(self) -> type[PlanBase]:
        """The model of this line's plan: a `PlanBase` whose ``dialect`` is
        ``Literal[name]``; the report's plan is the union of every registered line's."""

    @abstractmethod
    def collect(self, request: PlanRequest, *, ask: bool = True) -> PlanBase:
        """The plan: settings with sources, levels with their demand, a suggestion that fits.

        With ``ask``, the installed LensKit's own answer is in it too (waited for).
        """

    @abstractmethod
    def start_answer(self, plan: PlanBase, request: PlanRequest) -> AttachAnswer | None:
        """Start asking the installed LensKit's own code, to run while other sections are
        collected; None when there is nothing (more) to ask."""

    @abstractmethod
    def apply_steps(
        self, level: PlanLevel, environ: Mapping[str, str], torch: Any | None
    ) -> list[ApplyStep]:
        """``--apply``: size this process's pools to ``level`` as LensKit's own setup does,
        in its order (after the sharing strategy, which every line sets first)."""

    @abstractmethod
    def ray_task(self, plan: PlanBase) -> RayTask:
        """What one of LensKit's Ray tasks asks Ray for and runs, under this plan."""

    def findings(self, plan: PlanBase) -> list[Finding]:
        """The plan's findings, in the order the report lists them (default: what every
        plan is checked for)."""
        from lkdoctor.plan.checks import common_findings

        return common_findings(plan)

    def details(self, plan: PlanBase) -> PlanDetails:
        """What the renderers show beside the levels (default: what the plan shape adds,
        as name/value rows)."""
        from lkdoctor.plan.view import PlanDetails, field_rows

        return PlanDetails(rows=field_rows(plan.line_fields()))

    def applied_setup(self, names: Mapping[str, object], by_cli: bool) -> AppliedSetup | None:
        """What this line's LensKit applied when it set up its pools in this process, read
        from the names of its loaded ``lenskit.parallel.config`` module; None when they are
        not this line's (or it has not set up)."""
        return None

    def batch_workers(self, plan: PlanBase, facts: BatchFacts) -> Workers | None:
        """How this line's LensKit runs batch work under ``plan``; None: not known."""
        return None

    def unguarded_call(self, n_jobs: str | None, workers: Workers) -> tuple[Severity, str] | None:
        """How much a batch call at a script's module level matters (with its explicit
        ``n_jobs`` source, if any), when this line's LensKit runs it; None: not known."""
        return None
