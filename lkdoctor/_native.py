"""The one place that imports the Rust probe, so a missing build is a report entry."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lkdoctor._probe import CancelToken as Token
    from lkdoctor._probe import KernelOutcome


class Probe(Protocol):
    """The probe as lkdoctor calls it. `load_probe` hands out the real module as this, so
    mypy checks the module's stub (``_probe.pyi``, itself checked against the extension by
    stubtest) against every member here, and every call site sees the stub's types."""

    @property
    def __version__(self) -> str: ...
    @property
    def build_info(self) -> dict[str, str]: ...
    @property
    def KERNEL_MAX_THREADS(self) -> int: ...
    @property
    def CancelToken(self) -> type[Token]: ...
    def available_parallelism(self) -> int | None: ...
    def rayon_default_threads(self) -> tuple[int, str]: ...
    def default_local_pool_threads(self) -> int: ...
    def spin_kernel(
        self,
        threads: int,
        units: int,
        timeout_s: float,
        cancel: Token | None = None,
        *,
        release_gil: bool = True,
    ) -> KernelOutcome: ...


@cache
def load_probe() -> tuple[Probe | None, str | None]:
    """Return ``(module, None)``, or ``(None, why)`` when the extension cannot load."""
    try:
        import lkdoctor._probe as probe
    except ImportError as exc:
        return None, (
            f"the Rust probe lkdoctor._probe is not available ({exc}); "
            "reinstall lkdoctor (pip install lkdoctor, or maturin develop in a checkout)"
        )
    return probe, None
