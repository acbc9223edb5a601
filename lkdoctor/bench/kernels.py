"""The benchmark kernels and their watchdog.

Two compute-bound kernels: the probe's Rayon kernel (fixed work split across a
local pool, GIL released) and torch matmuls at a given intra-op thread count.
Every run has a deadline; a watchdog thread cancels a kernel that overruns it,
and the run reports that it was cancelled instead of hanging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from lkdoctor.bench.measure import Counters, Window, window_between

if TYPE_CHECKING:
    from lkdoctor._native import Probe
    from lkdoctor._probe import CancelToken, KernelOutcome

#: Matrix size of the torch kernel: a few ms of work per matmul on one core, so the
#: watchdog can stop the loop between two of them.
MATMUL_SIZE = 256

#: The probe's own deadline sits this long after the watchdog's, as a backstop.
BACKSTOP_SECONDS = 0.05


class Watchdog:
    """Cancels the running kernel when ``seconds`` pass, from a timer thread."""

    def __init__(self, seconds: float, token: CancelToken | None = None) -> None:
        self.seconds = max(0.0, seconds)
        self.token = token
        self.stop = threading.Event()
        self.fired = False
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        self.stop.set()
        if self.token is not None:
            self.token.cancel()

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


@dataclass
class RunResult:
    """One run of one shape: work done by each kernel and the counters' window."""

    window: Window
    rayon_units: int = 0
    rayon_seconds: float = 0.0
    torch_matmuls: int = 0
    torch_seconds: float = 0.0
    overran: bool = False


@contextmanager
def torch_intra_op_threads(torch: ModuleType, threads: int) -> Iterator[None]:
    """Run the body with ``threads`` intra-op threads; torch's setting is restored after."""
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(saved)


class TorchMatmul:
    """Square float32 matmuls into a preallocated output; no RNG, no autograd state touched."""

    def __init__(self, torch: ModuleType, size: int = MATMUL_SIZE) -> None:
        self.torch = torch
        self.a = torch.full((size, size), 0.5, dtype=torch.float32)
        self.b = torch.full((size, size), 0.25, dtype=torch.float32)
        self.out = torch.empty((size, size), dtype=torch.float32)

    def loop(self, count: int, stop: threading.Event, deadline: float) -> tuple[int, float]:
        """Up to ``count`` matmuls, checking ``stop`` and ``deadline`` between them."""
        done = 0
        start = time.perf_counter()
        while done < count and not stop.is_set() and time.perf_counter() < deadline:
            self.torch.matmul(self.a, self.b, out=self.out)
            done += 1
        return done, time.perf_counter() - start

    def run(
        self, threads: int, count: int, stop: threading.Event, deadline: float
    ) -> tuple[int, float]:
        with torch_intra_op_threads(self.torch, threads):
            return self.loop(count, stop, deadline)


def run_shape(
    probe: Probe,
    matmul: TorchMatmul | None,
    *,
    rayon_threads: int,
    rayon_units: int,
    torch_threads: int,
    torch_matmuls: int,
    timeout: float,
    read_cgroup: bool = True,
) -> RunResult:
    """Run the Rayon kernel and, when asked, torch matmuls at the same time; measure both.

    The Rayon kernel runs on a helper thread (it releases the GIL) while torch runs on
    the calling thread, because torch's intra-op setting belongs to the thread that sets it.
    """
    token = probe.CancelToken()
    rayon_results: list[KernelOutcome] = []
    errors: list[BaseException] = []

    def rayon() -> None:
        try:
            rayon_results.append(
                probe.spin_kernel(rayon_threads, rayon_units, timeout + BACKSTOP_SECONDS, token)
            )
        except BaseException as exc:  # surfaced on the calling thread below
            errors.append(exc)

    with_torch = matmul is not None and torch_threads > 0 and torch_matmuls > 0
    torch_done, torch_seconds = 0, 0.0
    with Watchdog(timeout, token) as watchdog:
        before = Counters.read(cgroup=read_cgroup)
        if rayon_threads > 0 and with_torch:
            helper = threading.Thread(target=rayon, name="lkdoctor-bench-rayon", daemon=True)
            helper.start()
            assert matmul is not None
            deadline = time.perf_counter() + timeout
            try:
                torch_done, torch_seconds = matmul.run(
                    torch_threads, torch_matmuls, watchdog.stop, deadline
                )
            except BaseException:
                token.cancel()  # a failing torch must not leave the Rayon kernel running
                raise
            finally:
                helper.join(timeout + 2 * BACKSTOP_SECONDS)
        elif rayon_threads > 0:
            rayon()
        elif with_torch:
            assert matmul is not None
            deadline = time.perf_counter() + timeout
            torch_done, torch_seconds = matmul.run(
                torch_threads, torch_matmuls, watchdog.stop, deadline
            )
        after = Counters.read(cgroup=read_cgroup)
    if errors:
        raise errors[0]
    rayon_result = rayon_results[0] if rayon_results else None
    if rayon_result is None:
        return RunResult(
            window=window_between(before, after),
            torch_matmuls=torch_done,
            torch_seconds=torch_seconds,
            overran=watchdog.fired,
        )
    return RunResult(
        window=window_between(before, after, rayon_result.threads),
        rayon_units=rayon_result.units_done,
        rayon_seconds=rayon_result.wall_ns / 1e9,
        torch_matmuls=torch_done,
        torch_seconds=torch_seconds,
        overran=watchdog.fired or rayon_result.stop == "deadline",
    )
