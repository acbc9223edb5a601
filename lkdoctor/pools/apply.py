"""``--apply``: set up level 0 of the plan the way LensKit's ``initialize()`` does.

(LensKit 2026's ``init_threading``: see :func:`apply_level_zero`.)

LensKit 2025.x ``lenskit.parallel.config.initialize()`` does, in this order:
set torch's sharing strategy; limit BLAS with threadpoolctl unless
``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set; set torch's inter-op
threads; build lenskit._accel's global Rayon pool; set torch's intra-op threads.
Each step is tried on its own and recorded, so a failing step (the inter-op pool
already started, the Rayon pool already built) is reported rather than raised. The
steps that size a pool belong to its kind (:mod:`lkdoctor.host.pool_kinds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lkdoctor.host.modules import NUMERIC_MODULES, import_if_installed
from lkdoctor.host.pool_kinds import TORCH_MISSING, attempt_step, initialize_steps, skipped_step
from lkdoctor.model import ApplyStep, PlanLevel

#: LensKit 2026's ``init_threading`` order: BLAS, torch intra-op, Rayon (no inter-op step).
INIT_ORDER_2026 = (1, 4, 3)
BACKEND_STEPS_2026 = (1, 4)


def apply_sharing_strategy(torch: Any | None) -> ApplyStep:
    """Step 0: LensKit's worker processes share tensors through the file system."""
    action = 'torch.multiprocessing.set_sharing_strategy("file_system")'
    if torch is None:
        return skipped_step(0, action, TORCH_MISSING)

    def set_strategy() -> str:
        torch.multiprocessing.set_sharing_strategy("file_system")
        return "sharing strategy file_system"

    return attempt_step(0, action, set_strategy)


def apply_level_zero(
    level: PlanLevel, environ: Mapping[str, str], dialect: str = "2025"
) -> list[ApplyStep]:
    """Apply ``level`` (level 0 of the plan) as LensKit's ``initialize()`` would: the
    sharing strategy, then each pool kind's step in LensKit's order.

    LensKit 2026's ``init_threading`` differs: no inter-op step (2); BLAS (1) and torch's
    intra-op threads (4) only when ``num_backend_threads`` > 0; then the Rayon pool (3).
    """
    modules = {name: import_if_installed(name)[0] for name in NUMERIC_MODULES}
    torch = modules["torch"]
    kinds = initialize_steps()
    if dialect != "2026":
        steps = [kind.initialize(level, environ, torch) for kind in kinds]
        return [apply_sharing_strategy(torch), *steps]
    by_step = {kind.init_step: kind for kind in kinds}
    why = "num_backend_threads < 1: LensKit 2026 leaves the backends' pools alone"
    steps = [
        skipped_step(step, f"size {by_step[step].name} to {level.backend_threads}", why)
        if step in BACKEND_STEPS_2026 and level.backend_threads < 1
        else by_step[step].initialize(level, environ, torch)
        for step in INIT_ORDER_2026
    ]
    return [apply_sharing_strategy(torch), *steps]
