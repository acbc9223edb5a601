"""LensKit 2025.x: per-level lists (``LK_NUM_PROCS``, ``LK_NUM_THREADS``,
``LK_NUM_BACKEND_THREADS``) resolved by LensKit's documented rule.

``settings`` parses the variables, ``resolve`` resolves the levels, their demand and a
fitting suggestion, ``answer`` runs the installed LensKit's own resolution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lkdoctor.plan.dialect import AttachAnswer, LensKitLine, PlanRequest, RayTask

if TYPE_CHECKING:
    from lkdoctor.model import ApplyStep, PlanBase, PlanLevel, ThreadPlan2025


class LensKit2025(LensKitLine):
    name = "2025"
    first_year = 2025
    pip_release = "2025.8"

    def plan_shape(self) -> type[ThreadPlan2025]:
        from lkdoctor.model import ThreadPlan2025

        return ThreadPlan2025

    def collect(self, request: PlanRequest, *, ask: bool = True) -> PlanBase:
        from lkdoctor.plan.lenskit2025.resolve import collect_plan

        plan = collect_plan(
            request.lenskit_cpus, request.effective, request.environ, ask_lenskit=ask
        )
        plan.dialect_reason = request.reason
        return plan

    def start_answer(self, plan: PlanBase, request: PlanRequest) -> AttachAnswer | None:
        from lkdoctor.model import ThreadPlan2025
        from lkdoctor.plan.lenskit2025.resolve import attach_lenskit_answer

        assert isinstance(plan, ThreadPlan2025)  # collect() made it
        return attach_lenskit_answer(plan, request.environ)

    def apply_steps(
        self, level: PlanLevel, environ: Mapping[str, str], torch: Any | None
    ) -> list[ApplyStep]:
        """``initialize()``: every pool kind's step, in LensKit's order."""
        from lkdoctor.pools.kinds import initialize_steps

        return [kind.initialize(level, environ, torch) for kind in initialize_steps()]

    def ray_task(self, plan: PlanBase) -> RayTask:
        """A one-CPU task runs LensKit's whole plan for the node."""
        return RayTask(
            cpus=1,
            peak=plan.peak_threads,
            single_threaded_env={
                "LK_NUM_PROCS": "1",
                "LK_NUM_THREADS": "1",
                "LK_NUM_BACKEND_THREADS": "1",
            },
        )


LENSKIT_2025 = LensKit2025()
