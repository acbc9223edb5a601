"""The plan-shaped workload ``--verify`` runs in a fresh child process, one per variant.

``python -m lkdoctor.bench.workload --dialect LINE --level JSON --batches K`` is started in
the environment of one variant with level 0 of the plan that environment resolves to; it
applies the level as the plan's LensKit line does, says it is ready, then waits for
``run U M`` lines on stdin. Each run does the same total work whatever the plan: ``K`` batches, each a
phase of the probe's Rayon kernel on T0 threads (``U / K`` units) and a phase of torch
matmuls shared by T0 worker threads that each drive B0 intra-op threads (``M / K``
matmuls), with a barrier after each phase, as LensKit's batches synchronise. It answers
one JSON line per run: wall and CPU time, run and wait time of every thread, threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lkdoctor.bench.measure import Counters, window_between

if TYPE_CHECKING:
    from lkdoctor._native import Probe
    from lkdoctor._probe import ThreadStats

#: Longest a single Rayon phase may run before the probe stops it.
PHASE_TIMEOUT = 120.0


def _share(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` split as evenly as possible into ``parts``."""
    return total // parts + (1 if index < total % parts else 0)


class PlanWork:
    """T0 torch worker threads (B0 intra-op threads each) and the Rayon kernel on T0."""

    def __init__(
        self,
        probe: Probe,
        torch: ModuleType | None,
        *,
        threads: int,
        backend: int,
        size: int,
    ) -> None:
        self.probe = probe
        self.torch = torch
        self.threads = max(1, threads)
        self.backend = backend
        self.size = size
        self.barrier = threading.Barrier(self.threads + 1)
        self.counts = [0] * self.threads
        self.stopping = False
        self.kernel_threads: list[ThreadStats] = []
        self.workers = [
            threading.Thread(target=self._worker, args=(i,), daemon=True, name=f"lkdoctor-w{i}")
            for i in range(self.threads)
        ]
        for worker in self.workers:
            worker.start()

    def _worker(self, index: int) -> None:
        torch = self.torch
        if torch is None:
            return
        if self.backend >= 1:  # the plan's backend threads, for what this thread drives
            torch.set_num_threads(self.backend)
        a = torch.full((self.size, self.size), 0.5, dtype=torch.float32)
        b = torch.full((self.size, self.size), 0.25, dtype=torch.float32)
        out = torch.empty((self.size, self.size), dtype=torch.float32)
        while True:
            self.barrier.wait()
            if self.stopping:
                return
            for _ in range(self.counts[index]):
                torch.matmul(a, b, out=out)
            self.barrier.wait()

    def batch(self, units: int, matmuls: int) -> None:
        if units > 0:
            outcome = self.probe.spin_kernel(self.threads, units, PHASE_TIMEOUT)
            self.kernel_threads.extend(outcome.threads)
        if self.torch is not None and matmuls > 0:
            self.counts = [_share(matmuls, self.threads, i) for i in range(self.threads)]
            self.barrier.wait()  # start
            self.barrier.wait()  # all done

    def run(self, units: int, matmuls: int, batches: int) -> dict[str, Any]:
        """One measured run of ``units`` Rayon units and ``matmuls`` matmuls in batches."""
        self.kernel_threads = []
        before = Counters.read(cgroup=False)
        for index in range(batches):
            self.batch(_share(units, batches, index), _share(matmuls, batches, index))
        after = Counters.read(cgroup=False)
        window = window_between(before, after, self.kernel_threads)
        alive = max(len(before.tasks), len(after.tasks))
        return {
            "wall_seconds": window.wall_seconds,
            "cpu_seconds": window.cpu_seconds,
            "run_ns": window.run_ns,
            "wait_ns": window.wait_ns,
            "threads": alive + (self.threads if units > 0 else 0),
        }

    def close(self) -> None:
        if self.torch is not None:
            self.stopping = True
            self.barrier.wait()


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    from lkdoctor.plan.lines import dialect_names

    parser = argparse.ArgumentParser(prog="python -m lkdoctor.bench.workload")
    parser.add_argument("--level", required=True, help="level 0 of the plan, as JSON")
    parser.add_argument(
        "--dialect",
        required=True,
        choices=dialect_names(),  # an unknown line is a usage error, not a traceback
        help="the plan's LensKit line, which applies level 0",
    )
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args(argv)

    import os

    from lkdoctor._native import load_probe
    from lkdoctor.bench.run import _import_torch
    from lkdoctor.model import PlanLevel
    from lkdoctor.plan.lines import dialect_named
    from lkdoctor.pools.apply import apply_level_zero

    probe, why = load_probe()
    if probe is None:
        _emit({"error": why or "the Rust probe is not available"})
        return 1
    level = PlanLevel.model_validate_json(args.level)
    backend = level.counted_backend_threads or level.backend_threads
    applied = apply_level_zero(level, os.environ, dialect_named(args.dialect))
    torch = _import_torch()
    work = PlanWork(probe, torch, threads=level.threads, backend=backend, size=args.size)
    work.run(10, 2 * work.threads, 1)  # the pools start here, not in a measured run
    _emit(
        {
            "ready": True,
            "threads": level.threads,
            "backend": backend,
            "demand": level.demand,
            "torch": torch is not None,
            "applied": [step.action for step in applied if step.status == "applied"],
        }
    )
    for line in sys.stdin:  # "run UNITS MATMULS"; anything else ends the child
        words = line.split()
        if len(words) != 3 or words[0] != "run" or not (words[1] + words[2]).isdigit():
            break
        started = time.perf_counter()
        result = work.run(int(words[1]), int(words[2]), args.batches)
        result["elapsed"] = time.perf_counter() - started
        _emit(result)
    work.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
