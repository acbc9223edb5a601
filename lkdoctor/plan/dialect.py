"""The seam between lkdoctor and a line of LensKit releases (a configuration dialect).

Each line (``plan/lenskit2025/``, ``plan/lenskit2026/``) is one `LensKitLine` object that
knows everything lkdoctor needs about it: which releases it covers and which Python pip
gives it to (detection), the model of its plan (``plan_shape``), how it resolves its
settings with their sources, the demand model and a fitting suggestion (``collect``), how
to ask the installed LensKit's own code (``start_answer``), how ``--apply`` sets up its
pools (``apply_steps``) and what a Ray task of it runs (``ray_task``). The registry of lines is :mod:`lkdoctor.plan.dialects`; the
rest of lkdoctor asks these objects and never compares dialect names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lkdoctor.model import ApplyStep, PlanBase, PlanLevel


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
