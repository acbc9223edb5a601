"""A toy third LensKit line, "LensKit 2099", to show what adding a line takes.

Its configuration is one variable, ``LK2099_THREADS`` (default: every CPU LensKit counts):
one process running that many threads, no backend pools of its own. Everything lkdoctor
needs about it is here, in one `LensKitLine`; registering it is one entry in
`lkdoctor.plan.lines.LINES` (``registered.py`` beside this file adds it as that entry
would: before the report model is built).

Its files have the roles a real line's have: ``shape.py`` (its plan shape, `ThreadPlan2099`,
told apart by ``dialect: "2099"``; the report model's plan type is the union of every
registered line's `plan_shape`, so the report, its JSON and its JSON Schema take it with no
other change), ``checks.py`` (its findings) and ``view.py`` (the rows every renderer shows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lkdoctor.model import ApplyStep, Finding, PlanBase, PlanLevel
from lkdoctor.plan.line import AttachAnswer, LensKitLine, PlanRequest, RayTask
from lkdoctor.plan.parse import parse_count
from lkdoctor.plan.view import PlanDetails

from . import checks, view
from .shape import VARIABLE, ThreadPlan2099


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
        peak, ratio = ThreadPlan2099.judged([level], effective)
        return ThreadPlan2099(
            dialect_reason=request.reason,
            inputs={VARIABLE: raw} if raw is not None else {},
            cpu_count=cpus,
            effective=effective,
            levels=[level],
            peak_threads=peak,
            oversubscription=ratio,
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

    def findings(self, plan: PlanBase) -> list[Finding]:
        assert isinstance(plan, ThreadPlan2099)  # the registry hands a line its own plans
        return checks.findings(plan)

    def details(self, plan: PlanBase) -> PlanDetails:
        assert isinstance(plan, ThreadPlan2099)
        return view.details(plan)


LENSKIT_2099 = LensKit2099()

__all__ = ["LENSKIT_2099", "VARIABLE", "LensKit2099", "ThreadPlan2099"]
