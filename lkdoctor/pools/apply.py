"""``--apply``: set up level 0 of the plan the way LensKit's own setup does.

Each LensKit line orders and picks the pool kinds' steps itself (``LensKitLine.apply_steps``).

LensKit 2025.x's ``lenskit.parallel.config.initialize()``, for one, does in this order:
set torch's sharing strategy; limit BLAS with threadpoolctl unless
``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set; set torch's inter-op
threads; build lenskit._accel's global Rayon pool; set torch's intra-op threads.
Each step is tried on its own and recorded, so a failing step (the inter-op pool
already started, the Rayon pool already built) is reported rather than raised. The
steps that size a pool belong to its kind (:mod:`lkdoctor.pools.kinds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lkdoctor.host.modules import NUMERIC_MODULES, import_if_installed
from lkdoctor.model import ApplyStep, PlanLevel
from lkdoctor.plan.line import LensKitLine
from lkdoctor.pools.kinds import TORCH_MISSING, attempt_step, skipped_step


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
    level: PlanLevel, environ: Mapping[str, str], dialect: LensKitLine
) -> list[ApplyStep]:
    """Apply ``level`` (level 0 of the plan) as ``dialect``'s LensKit sets itself up: the
    sharing strategy, then the pool kinds' steps in that LensKit's order."""
    modules = {name: import_if_installed(name)[0] for name in NUMERIC_MODULES}
    torch = modules["torch"]
    return [apply_sharing_strategy(torch), *dialect.apply_steps(level, environ, torch)]
