"""Type stubs for the Rust probe (rust_probe/lib.rs, rust_probe/kernel.rs)."""

from typing import Literal, final

__all__ = [
    "KERNEL_MAX_THREADS",
    "CancelToken",
    "KernelOutcome",
    "ThreadStats",
    "__version__",
    "available_parallelism",
    "build_info",
    "default_local_pool_threads",
    "rayon_default_threads",
    "spin_kernel",
]

__version__: str
build_info: dict[str, str]

def available_parallelism() -> int | None:
    """``std::thread::available_parallelism()``, or None when Rust cannot tell."""

def rayon_default_threads() -> tuple[int, str]:
    """The size Rayon's global pool would get here, and its source; creates no pool.

    The source is ``RAYON_NUM_THREADS``, ``RAYON_RS_NUM_CPUS``, ``available_parallelism``
    or ``fallback`` (1, when Rust cannot tell the available parallelism).
    """

def default_local_pool_threads() -> int:
    """Build a local Rayon pool with default settings, return its size, drop it.

    What rayon-core itself decides here, to check ``rayon_default_threads`` against.
    Never touches the global pool, but starts threads: inspection does not call it.
    """

KERNEL_MAX_THREADS: int

@final
class CancelToken:
    """A flag a watchdog thread sets to stop a running kernel within one unit of work."""

    def __init__(self) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

@final
class ThreadStats:
    """What one worker thread did and what the scheduler did to it, over its own run."""

    @property
    def tid(self) -> int: ...
    @property
    def units_planned(self) -> int: ...
    @property
    def units_done(self) -> int: ...
    @property
    def cpu_ns(self) -> int:
        """CPU time of this thread (``CLOCK_THREAD_CPUTIME_ID``)."""
    @property
    def run_ns(self) -> int:
        """Time on a CPU as the scheduler counts it (schedstat field 1)."""
    @property
    def wait_ns(self) -> int:
        """Time runnable but waiting for a CPU (schedstat field 2); includes throttling."""
    @property
    def nonvoluntary_switches(self) -> int: ...
    @property
    def schedstat(self) -> bool:
        """Whether ``/proc/thread-self/schedstat`` could be read."""

@final
class KernelOutcome:
    """What one kernel run did."""

    @property
    def wall_ns(self) -> int:
        """Wall time of the parallel section."""
    @property
    def stop(self) -> Literal["finished", "cancelled", "deadline"]: ...
    @property
    def units_done(self) -> int: ...
    @property
    def threads(self) -> tuple[ThreadStats, ...]:
        """One entry per worker, in pool index order."""

def spin_kernel(
    threads: int,
    units: int,
    timeout_s: float,
    cancel: CancelToken | None = None,
    *,
    release_gil: bool = True,
) -> KernelOutcome:
    """Run ``units`` units of compute-bound work on a local pool of ``threads`` threads.

    Stops at ``timeout_s`` or when ``cancel`` is set. The GIL is released while the
    kernel runs. ``release_gil=False`` is for tests only: it holds the GIL throughout, so
    the tests can show they tell such a kernel apart (no other Python thread runs, and a
    Python watchdog cannot cancel it; only ``timeout_s`` ends it).
    """
