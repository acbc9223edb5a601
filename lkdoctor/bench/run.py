"""Micro-benchmarks: measure whether the plan oversubscribes this machine, and why.

Shapes (threads busy at once), all measured in the same budget, interleaved over
rounds so that load which comes and goes hits every shape alike:

- ``rayon-1`` / ``torch-1``: one-thread baselines of each kernel;
- ``right-sized``: the Rayon kernel at ``effective`` threads;
- ``peak``: the plan's level 0 at its peak: T0 Rayon threads, each driving B0 backend
  threads (itself and B0-1 more), so T0 Rayon threads beside torch matmuls on
  T0×(B0-1) intra-op threads: T0×B0 busy threads, the plan's demand.

Each run's work is sized from a quick calibration to fill a slice of the budget if it
scales ideally, and resized after each run by how much slower it really went, so a
loaded machine shortens the work rather than the budget; a watchdog cancels any run
that still overruns.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

from lkdoctor._native import Probe, load_probe
from lkdoctor.bench.kernels import RunResult, TorchMatmul, run_shape
from lkdoctor.bench.verdict import judge
from lkdoctor.model import Bench, BenchMetrics, BenchRole, BenchRun, CpuBudget, Throttling, Verdict
from lkdoctor.report import ThreadPlan

if TYPE_CHECKING:
    from lkdoctor._probe import KernelOutcome

#: Default measurement budget in seconds (``--bench-time``).
DEFAULT_BUDGET = 1.0
#: Most busy threads a peak run starts; a plan beyond this is measured at this size.
MAX_PEAK_THREADS = 256
#: Share of the budget kept for calibration and the counters' own cost.
OVERHEAD_SHARE = 0.25
#: Shortest slice a run can be given and still say something.
MIN_SLICE = 0.02
#: A run may take this many times its expected time before the watchdog cancels it.
WATCHDOG_FACTOR = 3.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Shape:
    name: str
    rayon_threads: int
    torch_threads: int
    roles: tuple[BenchRole, ...]

    @property
    def threads(self) -> int:
        return self.rayon_threads + self.torch_threads

    @property
    def describe(self) -> str:
        parts = [f"{self.rayon_threads} Rayon"] if self.rayon_threads else []
        if self.torch_threads:
            parts.append(f"{self.torch_threads} torch")
        return " + ".join(parts) + " threads"


@dataclass
class Totals:
    """One shape's runs added up over the rounds."""

    shape: Shape
    repeats: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    run_ns: int = 0
    wait_ns: int = 0
    switches: int = 0
    rayon_units: int = 0
    rayon_seconds: float = 0.0
    torch_matmuls: int = 0
    torch_seconds: float = 0.0
    throttling: Throttling | None = None
    psi_us: int | None = None
    overran: int = 0

    def add(self, result: RunResult) -> None:
        w = result.window
        self.repeats += 1
        self.wall += w.wall_seconds
        self.cpu += w.cpu_seconds
        self.run_ns += w.run_ns
        self.wait_ns += w.wait_ns
        self.switches += w.nonvoluntary_switches
        self.rayon_units += result.rayon_units
        self.rayon_seconds += result.rayon_seconds
        self.torch_matmuls += result.torch_matmuls
        self.torch_seconds += result.torch_seconds
        self.overran += result.overran
        if w.throttling is not None:
            t = self.throttling or Throttling(periods=0, throttled_periods=0, throttled_seconds=0)
            self.throttling = Throttling(
                periods=t.periods + w.throttling.periods,
                throttled_periods=t.throttled_periods + w.throttling.throttled_periods,
                throttled_seconds=t.throttled_seconds + w.throttling.throttled_seconds,
            )
        if w.psi_some_us is not None:
            self.psi_us = (self.psi_us or 0) + w.psi_some_us

    @property
    def wait_share(self) -> float | None:
        total = self.run_ns + self.wait_ns
        return self.wait_ns / total if total > 0 else None

    @property
    def rayon_rate(self) -> float | None:
        return self.rayon_units / self.rayon_seconds if self.rayon_seconds > 0 else None

    @property
    def torch_rate(self) -> float | None:
        return self.torch_matmuls / self.torch_seconds if self.torch_seconds > 0 else None


@dataclass
class Plan:
    """What to run: the shapes, the work per run and the time each run may take."""

    shapes: list[Shape]
    effective: int
    plan_threads: int
    peak_threads: int
    notes: list[str] = field(default_factory=list)


def plan_shapes(effective: int, threads: int, backend: int, *, torch: bool) -> Plan:
    """The shapes to measure for level 0 of a plan with ``threads`` × ``backend`` demand."""
    effective = max(1, effective)
    plan_threads = max(1, threads) * max(1, backend)
    notes: list[str] = []
    rayon_peak, torch_peak = max(1, threads), max(1, threads) * (max(1, backend) - 1)
    if torch_peak and not torch:
        notes.append(
            "torch is not installed: the backend threads of the peak run are Rayon threads"
        )
        rayon_peak, torch_peak = plan_threads, 0
    if rayon_peak + torch_peak > MAX_PEAK_THREADS:
        scale = MAX_PEAK_THREADS / (rayon_peak + torch_peak)
        rayon_peak = max(1, math.floor(rayon_peak * scale))
        torch_peak = MAX_PEAK_THREADS - rayon_peak if torch_peak else 0
        notes.append(f"the peak run is capped at {MAX_PEAK_THREADS} threads")
    candidates = [
        Shape("rayon-1", 1, 0, (BenchRole.BASELINE,)),
        Shape("torch-1", 0, 1, (BenchRole.BASELINE,)) if torch_peak else None,
        Shape("right-sized", min(effective, MAX_PEAK_THREADS), 0, (BenchRole.RIGHT_SIZED,)),
        Shape("peak", rayon_peak, torch_peak, (BenchRole.PEAK,)),
    ]
    shapes: list[Shape] = []
    for shape in candidates:
        if shape is None:
            continue
        same = next(
            (
                s
                for s in shapes
                if (s.rayon_threads, s.torch_threads) == (shape.rayon_threads, shape.torch_threads)
            ),
            None,
        )
        if same is None:
            shapes.append(shape)
        else:
            shapes[shapes.index(same)] = Shape(
                same.name, same.rayon_threads, same.torch_threads, same.roles + shape.roles
            )
    return Plan(shapes, effective, plan_threads, rayon_peak + torch_peak, notes)


@dataclass(frozen=True)
class Rates:
    """Single-thread work per second of each kernel, from a quick calibration."""

    rayon: float
    torch: float | None
    #: wall time over CPU time of the calibration: how much others slow a thread down now
    stretch: float = 1.0


def calibrate(probe: Probe, matmul: TorchMatmul | None) -> Rates:
    """Work per CPU second (not wall second), so a busy machine does not shrink the runs."""
    probe.spin_kernel(1, 4, 1.0)  # first pool start-up and page faults, not measured
    result: KernelOutcome = probe.spin_kernel(1, 40, 1.0)
    cpu_ns = sum(t.cpu_ns for t in result.threads) or result.wall_ns
    rayon = result.units_done / max(cpu_ns / 1e9, 1e-6)
    stretch = min(max(result.wall_ns / max(cpu_ns, 1), 1.0), 50.0)
    torch_rate = None
    if matmul is not None:
        never = threading.Event()
        matmul.run(1, 1, never, time.perf_counter() + 1.0)
        cpu_before = time.thread_time()
        done, seconds = matmul.run(1, 3, never, time.perf_counter() + 1.0)
        cpu = time.thread_time() - cpu_before
        torch_rate = done / max(cpu if cpu > 0 else seconds, 1e-6)
    return Rates(rayon=rayon, torch=torch_rate, stretch=stretch)


def work_for(shape: Shape, rates: Rates, effective: int, seconds: float) -> tuple[int, int]:
    """Rayon units and matmuls that fill ``seconds`` if the shape scales ideally."""
    cpus = min(shape.threads, effective)
    rayon_cpus = cpus * shape.rayon_threads / shape.threads
    torch_cpus = cpus * shape.torch_threads / shape.threads
    units = math.ceil(rates.rayon * seconds * rayon_cpus) if shape.rayon_threads else 0
    matmuls = math.ceil((rates.torch or 0.0) * seconds * torch_cpus) if shape.torch_threads else 0
    return max(units, shape.rayon_threads if shape.rayon_threads else 0), max(
        matmuls, 1 if shape.torch_threads else 0
    )


def _import_torch() -> ModuleType | None:
    if "torch" in sys.modules:
        return sys.modules["torch"]
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        return importlib.import_module("torch")
    except Exception:  # a broken torch install is reported by the pools section
        return None


def _speedup(totals: Totals, rates: dict[str, float | None]) -> float | None:
    """CPUs' worth of work per second: each kernel's rate over its one-thread rate."""
    parts: list[float] = []
    if totals.shape.rayon_threads:
        base, rate = rates.get("rayon"), totals.rayon_rate
        if not base or rate is None:
            return None
        parts.append(rate / base)
    if totals.shape.torch_threads:
        base, rate = rates.get("torch"), totals.torch_rate
        if not base or rate is None:
            return None
        parts.append(rate / base)
    return sum(parts) if parts else None


def _bench_run(totals: Totals, speedup: float | None) -> BenchRun:
    shape = totals.shape
    return BenchRun(
        name=shape.name,
        roles=list(shape.roles),
        rayon_threads=shape.rayon_threads,
        torch_threads=shape.torch_threads,
        threads=shape.threads,
        repeats=totals.repeats,
        wall_seconds=round(totals.wall, 4),
        cpu_seconds=round(totals.cpu, 4),
        speedup=None if speedup is None else round(speedup, 3),
        efficiency=None if speedup is None else round(speedup / shape.threads, 3),
        wait_share=None if totals.wait_share is None else round(totals.wait_share, 3),
        nonvoluntary_switches_per_second=round(totals.switches / totals.wall, 1)
        if totals.wall
        else None,
        throttling=totals.throttling,
        psi_some_share=round(min(1.0, totals.psi_us / 1e6 / totals.wall), 3)
        if totals.psi_us is not None and totals.wall
        else None,
        overran=totals.overran > 0,
    )


def _with_role(totals: list[Totals], role: BenchRole) -> Totals | None:
    return next((t for t in totals if role in t.shape.roles and t.repeats), None)


def metrics_from(plan: Plan, totals: list[Totals], rates: dict[str, float | None]) -> BenchMetrics:
    right, peak = _with_role(totals, BenchRole.RIGHT_SIZED), _with_role(totals, BenchRole.PEAK)
    contention = right.wait_share if right else None
    peak_wait = peak.wait_share if peak else None
    throttled_share = None
    if peak is not None and peak.throttling is not None and peak.wall > 0:
        throttled_share = round(peak.throttling.throttled_seconds / peak.wall, 3)
    throttled_periods = (
        sum(t.throttling.throttled_periods for t in totals if t.throttling)
        if any(t.throttling for t in totals)
        else None
    )
    psi = [t.psi_us for t in totals if t.psi_us is not None]
    wall = sum(t.wall for t in totals)
    return BenchMetrics(
        effective=plan.effective,
        plan_threads=plan.plan_threads,
        peak_threads=plan.peak_threads,
        expected_own_wait_share=round(max(0.0, 1 - plan.effective / plan.peak_threads), 3),
        contention_wait_share=None if contention is None else round(contention, 3),
        peak_wait_share=None if peak_wait is None else round(peak_wait, 3),
        excess_wait_share=None
        if contention is None or peak_wait is None
        else round(peak_wait - contention, 3),
        right_sized_speedup=_rounded(_speedup(right, rates)) if right else None,
        peak_speedup=_rounded(_speedup(peak, rates)) if peak else None,
        throttled_share=throttled_share,
        throttled_periods=throttled_periods,
        psi_some_share=round(min(1.0, sum(psi) / 1e6 / wall), 3) if psi and wall else None,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def skipped(reason: str) -> Bench:
    return Bench(verdict=Verdict.SKIPPED, reason=reason)


def collect_bench(
    cpu: CpuBudget | None,
    thread_plan: ThreadPlan | None,
    *,
    budget: float | None = None,
    progress: Progress | None = None,
) -> Bench:
    """Measure ``thread_plan`` on this process's ``cpu`` budget within ``budget`` seconds
    (default ``DEFAULT_BUDGET``), and judge.

    Whether the benchmarks run at all is the caller's rule (``pipeline.Request``).
    """
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    budget = DEFAULT_BUDGET if budget is None else budget
    if cpu is None or thread_plan is None or not thread_plan.levels:
        return Bench(
            verdict=Verdict.INCONCLUSIVE, reason="the CPU budget or the thread plan is missing"
        )
    probe, why = load_probe()
    if probe is None or not hasattr(probe, "spin_kernel"):
        return Bench(
            verdict=Verdict.INCONCLUSIVE, reason=why or "the Rust probe has no benchmark kernel"
        )
    if not budget > 0 or not math.isfinite(budget):
        return Bench(
            verdict=Verdict.INCONCLUSIVE, reason=f"the time budget must be positive, got {budget}"
        )
    level = thread_plan.levels[0]
    backend = level.counted_backend_threads or level.backend_threads
    torch = _import_torch() if level.threads * (backend - 1) > 0 else None
    plan = plan_shapes(cpu.effective, level.threads, backend, torch=torch is not None)
    matmul = (
        TorchMatmul(torch)
        if torch is not None and any(s.torch_threads for s in plan.shapes)
        else None
    )

    say("calibrating the benchmark kernels")
    rates = calibrate(probe, matmul)
    bench_end = started + budget
    remaining = bench_end - time.perf_counter()
    usable = remaining - budget * OVERHEAD_SHARE
    rounds = (
        3
        if usable / (3 * len(plan.shapes)) >= 0.06
        else 2
        if usable / (2 * len(plan.shapes)) >= MIN_SLICE
        else 1
    )
    slice_seconds = usable / (rounds * len(plan.shapes))
    if slice_seconds < MIN_SLICE:
        return Bench(
            verdict=Verdict.INCONCLUSIVE,
            reason=f"a {budget:g} s budget is too short to measure {len(plan.shapes)} shapes",
            budget_seconds=budget,
            elapsed_seconds=round(time.perf_counter() - started, 3),
        )
    totals, overruns = _measure(probe, matmul, plan, rates, rounds, slice_seconds, bench_end, say)
    base_rates = _baseline_rates(totals, rates)
    runs = [_bench_run(t, _speedup(t, base_rates)) for t in totals if t.repeats]
    metrics = metrics_from(plan, totals, base_rates)
    if not all(t.repeats for t in totals):
        missing = ", ".join(t.shape.name for t in totals if not t.repeats)
        return Bench(
            verdict=Verdict.INCONCLUSIVE,
            reason=f"the budget ran out before every shape was measured (missing: {missing})",
            runs=runs,
            metrics=metrics,
            budget_seconds=budget,
            elapsed_seconds=round(time.perf_counter() - started, 3),
            overruns=overruns,
        )
    quota = cpu.cgroup.quota if cpu.cgroup is not None else None
    judgement = judge(metrics, quota=quota)
    return Bench(
        verdict=judgement.verdict,
        reason=judgement.reason,
        evidence=[*judgement.evidence, *plan.notes],
        runs=runs,
        metrics=metrics,
        budget_seconds=budget,
        elapsed_seconds=round(time.perf_counter() - started, 3),
        overruns=overruns,
    )


def _measure(
    probe: Probe,
    matmul: TorchMatmul | None,
    plan: Plan,
    rates: Rates,
    rounds: int,
    slice_seconds: float,
    bench_end: float,
    say: Progress,
) -> tuple[list[Totals], list[str]]:
    """Run every shape once per round, each sized to fill ``slice_seconds`` of wall time.

    A shape's work is rescaled after each run by how much slower than ideal it went
    (``stretch``), so a loaded machine shortens the work instead of overrunning the
    budget; a round that no longer fits the budget is not started.
    """
    totals = [Totals(shape) for shape in plan.shapes]
    stretch = {shape.name: rates.stretch for shape in plan.shapes}
    overruns: list[str] = []
    for round_index in range(rounds):
        if round_index and bench_end - time.perf_counter() < slice_seconds * len(totals):
            break
        for total in totals:
            shape = total.shape
            left = bench_end - time.perf_counter()
            if left < slice_seconds * 0.5:
                break
            say(f"measuring {shape.name} ({shape.describe}), round {round_index + 1} of {rounds}")
            ideal = slice_seconds / stretch[shape.name]
            units, matmuls = work_for(shape, rates, plan.effective, ideal)
            timeout = min(WATCHDOG_FACTOR * slice_seconds, left)
            result = run_shape(
                probe,
                matmul,
                rayon_threads=shape.rayon_threads,
                rayon_units=units,
                torch_threads=shape.torch_threads,
                torch_matmuls=matmuls,
                timeout=timeout,
            )
            total.add(result)
            stretch[shape.name] = min(max(result.window.wall_seconds / ideal, 0.5), 50.0)
            if result.overran:
                overruns.append(
                    f"{shape.name} round {round_index + 1}: cancelled after {timeout:.3f} s "
                    f"(expected {slice_seconds:.3f} s)"
                )
    return totals, overruns


def _baseline_rates(totals: list[Totals], calibrated: Rates) -> dict[str, float | None]:
    """One-thread rates from the measured baselines, the calibration where there is none."""
    rayon = next((t.rayon_rate for t in totals if t.shape.name == "rayon-1" and t.rayon_rate), None)
    torch = next((t.torch_rate for t in totals if t.shape.name == "torch-1" and t.torch_rate), None)
    return {"rayon": rayon or calibrated.rayon, "torch": torch or calibrated.torch}
