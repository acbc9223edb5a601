"""LensKit 2025.x: per-level lists (``LK_NUM_PROCS``, ``LK_NUM_THREADS``,
``LK_NUM_BACKEND_THREADS``) resolved by LensKit's documented rule.

``shape`` is the plan's model, ``settings`` parses the variables, ``resolve`` resolves the
levels, their demand and a fitting suggestion, ``ask`` runs the installed LensKit's own
resolution (and reads what it applied), ``checks`` and ``view`` are the line's findings and
rows, ``workers`` how its batch work runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lkdoctor.plan.line import (
    AppliedSetup,
    AttachAnswer,
    BatchFacts,
    LensKitLine,
    PlanRequest,
    RayTask,
)

if TYPE_CHECKING:
    from lkdoctor.model import ApplyStep, Finding, PlanBase, PlanLevel, Severity, Workers
    from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025
    from lkdoctor.plan.view import PlanDetails


def _own(plan: PlanBase) -> ThreadPlan2025:
    from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025

    assert isinstance(plan, ThreadPlan2025)  # the registry hands a line its own plans
    return plan


class LensKit2025(LensKitLine):
    name = "2025"
    first_year = 2025
    pip_release = "2025.8"

    def plan_shape(self) -> type[ThreadPlan2025]:
        from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025

        return ThreadPlan2025

    def collect(self, request: PlanRequest, *, ask: bool = True) -> PlanBase:
        from lkdoctor.plan.lenskit2025.resolve import collect_plan

        plan = collect_plan(
            request.lenskit_cpus, request.effective, request.environ, ask_lenskit=ask
        )
        plan.dialect_reason = request.reason
        return plan

    def start_answer(self, plan: PlanBase, request: PlanRequest) -> AttachAnswer | None:
        from lkdoctor.plan.lenskit2025.resolve import attach_lenskit_answer

        return attach_lenskit_answer(_own(plan), request.environ)

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

    def findings(self, plan: PlanBase) -> list[Finding]:
        from lkdoctor.plan.lenskit2025.checks import findings

        return findings(_own(plan))

    def details(self, plan: PlanBase) -> PlanDetails:
        from lkdoctor.plan.lenskit2025.view import details

        return details(_own(plan))

    def applied_setup(self, names: Mapping[str, object], by_cli: bool) -> AppliedSetup | None:
        from lkdoctor.plan.lenskit2025.ask import applied_setup

        return applied_setup(names, by_cli)

    def batch_workers(self, plan: PlanBase, facts: BatchFacts) -> Workers | None:
        from lkdoctor.plan.lenskit2025.workers import batch_workers

        return batch_workers(_own(plan), facts)

    def unguarded_call(self, n_jobs: str | None, workers: Workers) -> tuple[Severity, str] | None:
        from lkdoctor.plan.lenskit2025.workers import unguarded_call

        return unguarded_call(n_jobs, workers)


LENSKIT_2025 = LensKit2025()
