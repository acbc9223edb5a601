"""LensKit 2026.x: one value per setting (``num_threads``, ``num_backend_threads``,
``num_batch_jobs``, ...), read from variables and ``lenskit.toml`` with their sources.

``shape`` is the plan's model, ``settings`` resolves the settings and models what runs at
once, ``resolve`` builds the plan and its suggestion, ``ask`` asks LensKit's own code (which
``ask_child`` runs in a child process) and reads what it applied, ``checks`` and ``view``
are the line's findings and rows, ``workers`` how its batch work runs.
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
    from lkdoctor.plan.lenskit2026.shape import ThreadPlan2026
    from lkdoctor.plan.view import PlanDetails


def _own(plan: PlanBase) -> ThreadPlan2026:
    from lkdoctor.plan.lenskit2026.shape import ThreadPlan2026

    assert isinstance(plan, ThreadPlan2026)  # LensKit2026.collect() made it
    return plan


class LensKit2026(LensKitLine):
    name = "2026"
    first_year = 2026
    #: LensKit 2026.1 and later need this Python; pip gives 2025.8 on anything older.
    min_python = (3, 12, 5)
    pip_release = "2026.x"

    def plan_shape(self) -> type[ThreadPlan2026]:
        from lkdoctor.plan.lenskit2026.shape import ThreadPlan2026

        return ThreadPlan2026

    def collect(self, request: PlanRequest, *, ask: bool = True) -> PlanBase:
        """Without ``ask`` LensKit is still asked at once (and :meth:`start_answer` then has
        nothing to start) when a settings file is large: its parse serves the doctor too."""
        from lkdoctor.plan.lenskit2026.resolve import collect_plan_2026

        askable = request.ask_lenskit and not (request.foreign and request.cwd is None)
        return collect_plan_2026(
            request.lenskit_cpus,
            request.effective,
            request.environ,
            request,
            cwd=request.cwd,
            project_root=request.project_root,
            ask=ask and askable,
            ask_first=askable,
            affinity=request.affinity,
        )

    def start_answer(self, plan: PlanBase, request: PlanRequest) -> AttachAnswer | None:
        """LensKit's settings code, run in a child process in the diagnosed folder (not
        asked for another process whose folder cannot be read)."""
        from lkdoctor.plan.lenskit2026.ask import attach_answer, start_answer

        if request.foreign and request.cwd is None:
            return None
        own = _own(plan)
        pending = start_answer(
            own, request.environ, request.cwd, request.project_root, request.affinity
        )
        if pending is None:
            return None
        return lambda: attach_answer(own, pending.result())

    def apply_steps(
        self, level: PlanLevel, environ: Mapping[str, str], torch: Any | None
    ) -> list[ApplyStep]:
        """``init_threading``: BLAS, torch's intra-op threads, then the Rayon pool (no
        inter-op step); the backends only when ``num_backend_threads`` > 0."""
        from lkdoctor.pools.kinds import (
            Blas,
            LensKitRayon,
            TorchIntraOp,
            initialize_steps,
            skipped_step,
        )

        steps = initialize_steps()
        why = "num_backend_threads < 1: LensKit 2026 leaves the backends' pools alone"
        done = []
        for kind in (Blas, TorchIntraOp, LensKitRayon):
            step = next(own for own in steps if issubclass(own, kind))
            if kind is not LensKitRayon and level.backend_threads < 1:
                action = f"size {step.name} to {level.backend_threads}"
                done.append(skipped_step(step.init_step or 0, action, why))
            else:
                done.append(step.initialize(level, environ, torch))
        return done

    def ray_task(self, plan: PlanBase) -> RayTask:
        """Batch tasks ask num_cpus = backend threads; each worker runs its own Rayon pool
        of num_threads and backends of num_backend_threads."""
        settings = _own(plan).settings
        threads = int(settings["num_threads"].value)
        backend = int(settings["num_backend_threads"].value)
        return RayTask(
            cpus=max(backend, 1),
            peak=threads * (backend if backend >= 1 else plan.cpu_count),
            single_threaded_env={"LK_NUM_THREADS": "1", "LK_NUM_BACKEND_THREADS": "1"},
        )

    def findings(self, plan: PlanBase) -> list[Finding]:
        from lkdoctor.plan.lenskit2026.checks import findings

        return findings(_own(plan))

    def details(self, plan: PlanBase) -> PlanDetails:
        from lkdoctor.plan.lenskit2026.view import details

        return details(_own(plan))

    def applied_setup(self, names: Mapping[str, object], by_cli: bool) -> AppliedSetup | None:
        from lkdoctor.plan.lenskit2026.ask import applied_setup

        return applied_setup(names, by_cli)

    def batch_workers(self, plan: PlanBase, facts: BatchFacts) -> Workers | None:
        from lkdoctor.plan.lenskit2026.workers import batch_workers

        return batch_workers(_own(plan), facts)

    def unguarded_call(self, n_jobs: str | None, workers: Workers) -> tuple[Severity, str] | None:
        from lkdoctor.plan.lenskit2026.workers import unguarded_call

        return unguarded_call(n_jobs, workers)


LENSKIT_2026 = LensKit2026()
