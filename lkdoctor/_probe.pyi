"""Type stubs for the Rust probe (rust_probe/lib.rs)."""

from typing import Any, final

__all__ = [
    "KERNEL_MAX_THREADS",
    "CancelToken",
    "__version__",
    "available_parallelism",
    "build_info",
    "rayon_default_threads",
    "spin_kernel",
]

__version__: str
build_info: dict[str, str]

def available_parallelism() -> int | None:
    """``std::thread::available_parallelism()``, or None when Rust cannot tell."""

def rayon_default_threads() -> tuple[int, str]:
    """The size Rayon's global pool would get here, and its source; creates no pool."""

KERNEL_MAX_THREADS: int

@final
class CancelToken:
    """A flag a watchdog thread sets to stop a running kernel within one unit of work."""

    def __init__(self) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

def spin_kernel(
    threads: int, units: int, timeout_s: float, cancel: CancelToken | None = None
) -> dict[str, Any]:
    """Run ``units`` units of compute-bound work on a local pool of ``threads`` threads.

    The GIL is released; the kernel stops at ``timeout_s`` or when ``cancel`` is set.
    Returns ``wall_ns``, ``stop`` (finished|cancelled|deadline), ``units_done`` and
    ``threads``: one dict per worker with ``tid``, ``units_planned``, ``units_done``,
    ``cpu_ns``, ``run_ns``, ``wait_ns``, ``nonvoluntary_switches``, ``schedstat``.
    """
