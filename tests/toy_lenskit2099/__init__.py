"""A toy third LensKit line, "LensKit 2099", to show what adding a line takes.

Its configuration is one variable, ``LK2099_THREADS`` (default: every CPU LensKit counts):
one process running that many threads, no backend pools of its own. Everything lkdoctor
needs about it is here, in one `LensKitLine`; registering it is one entry in
`lkdoctor.plan.dialects.DIALECTS` (``registered.py`` beside this file adds it as that entry
would: before the report model is built).

Its plan has a shape of its own, `ThreadPlan2099`, told apart by ``dialect: "2099"``; the
report model's plan type is the union of every registered line's `plan_shape`, so the
report, its JSON and its JSON Schema take it with no other change. No renderer has a view
written for it: they show what the shape adds (``threads_source``) as name/value pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from lkdoctor.model import ApplyStep, PlanBase, PlanLevel
from lkdoctor.plan.dialect import AttachAnswer, LensKitLine, PlanRequest, RayTask
from lkdoctor.plan.levels import oversubscription
from lkdoctor.plan.parse import parse_count

VARIABLE = "LK2099_THREADS"


class ThreadPlan2099(PlanBase):
    """The toy line's plan: one level, and where its thread count comes from."""

    dialect: Literal["2099"] = Field(
        default="2099", description="the LensKit configuration dialect the plan is resolved in"
    )
    threads_source: str = Field(description=f"{VARIABLE}, or 'every CPU' when it is unset")


class LensKit2099(LensKitLine):
    name = "2099"
    first_year = 2099
    min_python = (3, 99, 0)
    pip_release = "2099.x"

    def plan_shape(self) -> type[ThreadPlan2099]:
        return ThreadPlan2099

    def collect(self, request: PlanRequest, *, ask: bool = True) -> ThreadPlan2099:
        cpus, effective = max(request.lenskit_cpus, 1), max(request.effective, 1)
        raw = request.environ.get(VARIABLE)
        given = parse_count(raw) if raw is not None else None
        threads = given or cpus
        level = PlanLevel(level=0, processes=1, threads=threads, backend_threads=1, demand=threads)
        return ThreadPlan2099(
            dialect_reason=request.reason,
            inputs={VARIABLE: raw} if raw is not None else {},
            cpu_count=cpus,
            effective=effective,
            levels=[level],
            peak_threads=threads,
            oversubscription=oversubscription(threads, effective),
            lenskit_version=request.version,
            suggested_env={VARIABLE: str(min(threads, effective))},
            suggestion_fits_as_is=threads <= effective,
            threads_source=VARIABLE if given else "every CPU",
        )

    def start_answer(self, plan: PlanBase, request: PlanRequest) -> AttachAnswer | None:
        return None  # no installed LensKit 2099 to ask

    def apply_steps(
        self, level: PlanLevel, environ: Mapping[str, str], torch: Any | None
    ) -> list[ApplyStep]:
        return [
            ApplyStep(
                step=1,
                action=f"size the toy pool to {level.threads}",
                status="skipped",
                detail="a toy line has no pool",
            )
        ]

    def ray_task(self, plan: PlanBase) -> RayTask:
        return RayTask(cpus=1, peak=plan.peak_threads, single_threaded_env={VARIABLE: "1"})


LENSKIT_2099 = LensKit2099()
