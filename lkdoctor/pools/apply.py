"""``--apply``: set up level 0 of the plan the way LensKit's ``initialize()`` does.

(LensKit 2026's ``init_threading``: see :func:`apply_level_zero`.)

LensKit 2025.x ``lenskit.parallel.config.initialize()`` does, in this order:
set torch's sharing strategy; limit BLAS with threadpoolctl unless
``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set; set torch's inter-op
threads; build lenskit._accel's global Rayon pool; set torch's intra-op threads.
Each step is tried on its own and recorded, so a failing step (the inter-op pool
already started, the Rayon pool already built) is reported rather than raised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lkdoctor.host.lenskit import lenskit_accel_origin
from lkdoctor.host.modules import NUMERIC_MODULES, import_if_installed
from lkdoctor.model import ApplyStep, PlanLevel

#: Variables whose presence makes LensKit skip its BLAS limit.
BLAS_SKIP_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _attempt(step: int, action: str, operation: Callable[[], str]) -> ApplyStep:
    try:
        detail = operation()
    except Exception as exc:  # each step fails on its own, as LensKit's does
        return ApplyStep(
            step=step, action=action, status="failed", detail=f"{type(exc).__name__}: {exc}"
        )
    return ApplyStep(step=step, action=action, status="applied", detail=detail)


def _skipped(step: int, action: str, why: str) -> ApplyStep:
    return ApplyStep(step=step, action=action, status="skipped", detail=why)


def apply_blas(backend_threads: int, environ: Mapping[str, str]) -> ApplyStep:
    """Step 1: ``threadpool_limits(B0, "blas")`` unless a BLAS variable decides."""
    action = f'threadpoolctl.threadpool_limits({backend_threads}, "blas")'
    deciding = [name for name in BLAS_SKIP_VARIABLES if name in environ]
    if deciding:
        setting = ", ".join(f"{name}={environ[name]}" for name in deciding)
        return _skipped(1, action, f"{setting} is set, so LensKit leaves BLAS threads to it")

    def limit() -> str:
        from threadpoolctl import threadpool_info, threadpool_limits

        before = {
            e["filepath"]: e["num_threads"] for e in threadpool_info() if e["user_api"] == "blas"
        }
        # Not a context manager: LensKit keeps the limit for the life of the process.
        threadpool_limits(backend_threads, "blas")
        changes = [
            f"{entry['prefix']} {before.get(entry['filepath'])} → {entry['num_threads']}"
            for entry in threadpool_info()
            if entry["user_api"] == "blas"
        ]
        return ", ".join(changes) if changes else "no BLAS library is loaded"

    return _attempt(1, action, limit)


def apply_torch_interop(torch: Any | None, threads: int) -> ApplyStep:
    """Step 2: ``torch.set_num_interop_threads(T0)``; fails once inter-op work has started."""
    action = f"torch.set_num_interop_threads({threads})"
    if torch is None:
        return _skipped(2, action, "torch is not installed (LensKit needs it)")

    def set_interop() -> str:
        torch.set_num_interop_threads(threads)
        return f"inter-op threads now {torch.get_num_interop_threads()}"

    return _attempt(2, action, set_interop)


def apply_lenskit_rayon(threads: int) -> ApplyStep:
    """Step 3: build lenskit._accel's global Rayon pool; fails if it already exists."""
    action = f"lenskit._accel.init_accel_pool({threads})"
    if lenskit_accel_origin() is None:
        return _skipped(3, action, "lenskit._accel is not installed")

    def build_pool() -> str:
        from lenskit._accel import init_accel_pool, thread_count

        try:
            init_accel_pool(threads)
        except RuntimeError as exc:
            # The pool exists already, so reading its size creates nothing new.
            raise RuntimeError(
                f"{exc}: LensKit's Rayon pool already exists with {thread_count()} threads"
            ) from exc
        return f"LensKit's Rayon pool built with {thread_count()} threads"

    return _attempt(3, action, build_pool)


def apply_torch_intra(torch: Any | None, backend_threads: int) -> ApplyStep:
    """Step 4: ``torch.set_num_threads(B0)``."""
    action = f"torch.set_num_threads({backend_threads})"
    if torch is None:
        return _skipped(4, action, "torch is not installed (LensKit needs it)")

    def set_intra() -> str:
        torch.set_num_threads(backend_threads)
        return f"intra-op threads now {torch.get_num_threads()}"

    return _attempt(4, action, set_intra)


def apply_sharing_strategy(torch: Any | None) -> ApplyStep:
    """Step 0: LensKit's worker processes share tensors through the file system."""
    action = 'torch.multiprocessing.set_sharing_strategy("file_system")'
    if torch is None:
        return _skipped(0, action, "torch is not installed (LensKit needs it)")

    def set_strategy() -> str:
        torch.multiprocessing.set_sharing_strategy("file_system")
        return "sharing strategy file_system"

    return _attempt(0, action, set_strategy)


def apply_level_zero(
    level: PlanLevel, environ: Mapping[str, str], dialect: str = "2025"
) -> list[ApplyStep]:
    """Apply ``level`` (level 0 of the plan) as LensKit's ``initialize()`` would.

    LensKit 2026's ``init_threading`` differs: no inter-op setting, BLAS and torch's
    intra-op threads only when ``num_backend_threads`` > 0, then the Rayon pool.
    """
    modules = {name: import_if_installed(name)[0] for name in NUMERIC_MODULES}
    torch = modules["torch"]
    if dialect == "2026":
        backend = level.backend_threads
        if backend > 0:
            backends = [apply_blas(backend, environ), apply_torch_intra(torch, backend)]
        else:
            why = "num_backend_threads < 1: LensKit 2026 leaves the backends' pools alone"
            backends = [
                _skipped(1, f'threadpoolctl.threadpool_limits({backend}, "blas")', why),
                _skipped(4, f"torch.set_num_threads({backend})", why),
            ]
        return [apply_sharing_strategy(torch), *backends, apply_lenskit_rayon(level.threads)]
    return [
        apply_sharing_strategy(torch),
        apply_blas(level.backend_threads, environ),
        apply_torch_interop(torch, level.threads),
        apply_lenskit_rayon(level.threads),
        apply_torch_intra(torch, level.backend_threads),
    ]
