"""The toy line's plan shape: one level, and where its thread count comes from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lkdoctor.model import PlanBase

VARIABLE = "LK2099_THREADS"


class ThreadPlan2099(PlanBase):
    """The toy line's plan: one level, and where its thread count comes from."""

    dialect: Literal["2099"] = Field(
        default="2099", description="the LensKit configuration dialect the plan is resolved in"
    )
    threads_source: str = Field(description=f"{VARIABLE}, or 'every CPU' when it is unset")
