"""LensKit 2025's plan shape: the report's plan in this line (per-level lists), and one
level's counts as the resolver and LensKit's own answer compute them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from lkdoctor.model import PlanBase, PlanLevel

#: Levels beyond this are not resolved (each needs a process count above 1 at every level
#: before it, so a deeper plan asks for over 2**64 processes).
MAX_LEVELS = 64


@dataclass(frozen=True)
class Counts:
    """One level's counts: processes it spawns, explicit threads, backend threads."""

    processes: int
    threads: int
    backend: int


class ThreadPlan2025(PlanBase):
    """The plan in LensKit 2025's dialect: per-level lists (LK_NUM_PROCS, ...)."""

    dialect: Literal["2025"] = Field(
        default="2025", description="the LensKit configuration dialect the plan is resolved in"
    )
    lenskit_resolved: list[PlanLevel] | None = Field(
        default=None, description="the levels the installed LensKit's own code resolves"
    )
    child_threads: int | None = Field(
        default=None, description="LK_NUM_CHILD_THREADS (deprecated) when set and valid"
    )
    child_threads_equivalent: dict[str, str] = Field(
        default_factory=dict, description="the list form that replaces LK_NUM_CHILD_THREADS"
    )
