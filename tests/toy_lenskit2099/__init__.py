"""A toy third LensKit line, "LensKit 2099", to show what adding a line takes.

Its configuration is one variable, ``LK2099_THREADS`` (default: every CPU LensKit counts):
one process running that many threads, no backend pools of its own. Everything lkdoctor
needs about it is here, in one `LensKitLine`; registering it is one entry in
`lkdoctor.plan.dialects.DIALECTS` (tests/plan/test_dialects.py adds it with monkeypatch).

Its plan reuses the 2026 plan shape (`ThreadPlan2026`: settings with their sources): the
report model's ``ThreadPlan`` is a union told apart by the ``dialect`` key, so a plan
shape of its own (and a ``dialect`` key of "2099" in the JSON) would also need a member in
that union in ``lkdoctor/model.py`` (the JSON contract lists every shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lkdoctor.model import ApplyStep, PlanBase, PlanLevel, SettingValue, ThreadPlan, ThreadPlan2026
from lkdoctor.plan.dialect import AttachAnswer, LensKitLine, PlanRequest, RayTask
from lkdoctor.plan.levels import oversubscription
from lkdoctor.plan.parse import parse_count

VARIABLE = "LK2099_THREADS"


class LensKit2099(LensKitLine):
    name = "2099"
    first_year = 2099
    min_python = (3, 99, 0)
    pip_release = "2099.x"

    def collect(self, request: PlanRequest, *, ask: bool = True) -> ThreadPlan:
        cpus, effective = max(request.lenskit_cpus, 1), max(request.effective, 1)
        raw = request.environ.get(VARIABLE)
        given = parse_count(raw) if raw is not None else None
        threads = given or cpus
        level = PlanLevel(level=0, processes=1, threads=threads, backend_threads=1, demand=threads)
        return ThreadPlan2026(
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
            settings={
                "num_cpus": SettingValue(value=cpus, source="default"),
                "num_threads": SettingValue(
                    value=threads, source=VARIABLE if given else "derived", detail=""
                ),
            },
            demand_model=f"one process × {threads} threads (toy LensKit 2099)",
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
