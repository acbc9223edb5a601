"""``--verify``: the plan-shaped benchmark under the current settings and under the
suggested exports, each in a fresh child process, measured in alternating pairs.

Both children (:mod:`lkdoctor.bench.workload`) are started at once, so their start-up
(importing torch, applying their plan) overlaps, and wait on stdin; then they run the same
work in turns, never at the same time: pair after pair, the first variant swapped each
pair. The first pair is small; the next share what is left of the budget, sized by how
long the pair before really took, so a slow current plan shortens the work rather than
stretching the budget. The budget counts from the first pair (the start-up overlaps the
other sections of the report). A hard time limit ends a child
that does not answer.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from lkdoctor.bench.pairs import compare, nothing_to_verify, order, summarise
from lkdoctor.model import Comparison, Variant, VariantRun
from lkdoctor.report import ThreadPlan

if TYPE_CHECKING:  # bench.run is imported where it is used, not at start-up
    from lkdoctor.bench.run import Progress

#: Pairs measured: more than the 3 a verdict needs, within the same budget, because the
#: interval's width goes with t(0.975, n - 1) / √n: 2.48 standard deviations at 3 pairs,
#: 1.24 at 5, so a clear gain is not left inconclusive by one noisy pair.
PAIRS = 5
#: Batches per run: the synchronisation points of the work.
BATCHES = 20
#: Matrix size of the torch work: small matmuls, as LensKit's per-batch scoring does.
MATMUL_SIZE = 128
#: Share of each run's ideal time spent in the torch phase (the rest in the Rayon kernel).
TORCH_SHARE = 0.5
#: The first pair's runs are this many times shorter than a pair's share of the budget.
FIRST_PAIR_SHARE = 4
#: Smallest ideal time of a run: shorter runs measure start-up jitter, not the plan.
MIN_RUN_SECONDS = 0.05
#: Longest a child may take to start or to answer one run, in seconds.
START_TIMEOUT = 60.0
RUN_TIMEOUT = 60.0


def nothing_to_suggest(plan: ThreadPlan | None, environ: Mapping[str, str]) -> str | None:
    """Why there is nothing to verify, or None when the suggestion differs and may help."""
    if plan is None:
        return "the thread plan could not be resolved, so there is nothing to verify"
    if plan.suggestion_fits_as_is:
        return (
            f"the plan fits the {plan.effective} CPUs ({plan.peak_threads} "
            f"thread{'' if plan.peak_threads == 1 else 's'} at peak): "
            "there is nothing to verify"
        )
    if not plan.suggested_env and not plan.suggested_unset:
        return "the doctor has no suggested settings, so there is nothing to verify"
    same = all(environ.get(k) == v for k, v in plan.suggested_env.items())
    if same and not any(name in environ for name in plan.suggested_unset):
        return "the suggested settings are already the current ones: there is nothing to verify"
    return None


def suggested_environ(plan: ThreadPlan, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the plan's suggested exports (and its suggested unsets) applied."""
    env = {k: v for k, v in environ.items() if k not in plan.suggested_unset}
    env.update(plan.suggested_env)
    return env


@dataclass
class Rates:
    """Work per CPU second of the two kernels, for sizing the runs."""

    rayon_units: float
    matmuls: float

    def work(self, seconds: float, cpus: int) -> tuple[int, int]:
        """Rayon units and matmuls that keep ``cpus`` busy for ``seconds``."""
        units = math.ceil(self.rayon_units * seconds * cpus * (1 - TORCH_SHARE))
        matmuls = math.ceil(self.matmuls * seconds * cpus * TORCH_SHARE)
        return max(units, BATCHES), max(matmuls, BATCHES)


def calibrate() -> Rates:
    """Both kernels' single-thread rates, measured here (the benchmark's calibration)."""
    from lkdoctor._native import load_probe
    from lkdoctor.bench.kernels import TorchMatmul
    from lkdoctor.bench.run import _import_torch
    from lkdoctor.bench.run import calibrate as calibrate_kernels

    probe, why = load_probe()
    if probe is None:
        raise RuntimeError(why or "the Rust probe is not available")
    torch = _import_torch()
    matmul = TorchMatmul(torch, size=MATMUL_SIZE) if torch is not None else None
    rates = calibrate_kernels(probe, matmul)
    return Rates(rayon_units=rates.rayon, matmuls=rates.torch or 0.0)


@dataclass
class Child:
    """One variant's workload process, and what it said when ready."""

    variant: Variant
    process: subprocess.Popen[str]
    stderr: IO[str]
    ready: dict[str, Any] = field(default_factory=dict)
    buffer: str = ""

    def read_line(self, deadline: float) -> dict[str, Any]:
        """The child's next JSON line; TimeoutError at ``deadline``, EOFError if it ended."""
        stdout = self.process.stdout
        assert stdout is not None
        while "\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the {self.variant} run did not answer in time")
            readable, _, _ = select.select([stdout], [], [], left)
            if readable:
                chunk = os.read(stdout.fileno(), 65536).decode("utf-8", "replace")
                if not chunk:
                    raise EOFError(self.failure())
                self.buffer += chunk
        line, self.buffer = self.buffer.split("\n", 1)
        data: dict[str, Any] = json.loads(line)
        if "error" in data:
            raise EOFError(f"the {self.variant} workload failed: {data['error']}")
        return data

    def failure(self) -> str:
        self.stderr.seek(0)
        tail = self.stderr.read()[-400:].strip().splitlines()
        last = tail[-1] if tail else "no message"
        status = self.process.poll()
        return f"the {self.variant} workload ended (status {status}): {last}"

    def send(self, line: str) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def stop(self) -> None:
        # killed rather than asked to exit: its answers are read, and tearing down torch's
        # pools would only add to the report's time
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            if stream is not None:
                stream.close()


def start_child(variant: Variant, env: Mapping[str, str], plan: ThreadPlan) -> Child:
    """A workload process under ``env`` that applies level 0 of ``plan`` (the plan ``env``
    resolves to); its stderr is kept for the error message."""
    command = [sys.executable, "-m", "lkdoctor.bench.workload", "--batches", str(BATCHES)]
    command += ["--size", str(MATMUL_SIZE), "--dialect", plan.dialect]
    command += ["--level", plan.levels[0].model_dump_json()]
    stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in stop()
    process = subprocess.Popen(
        command,
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    return Child(variant, process, stderr)


def _variant_run(variant: Variant, data: Mapping[str, Any]) -> VariantRun:
    run_ns, wait_ns = int(data["run_ns"]), int(data["wait_ns"])
    return VariantRun(
        variant=variant,
        wall_seconds=round(float(data["wall_seconds"]), 4),
        cpu_seconds=round(float(data["cpu_seconds"]), 4),
        wait_seconds=round(wait_ns / 1e9, 4),
        wait_share=round(wait_ns / (run_ns + wait_ns), 3) if run_ns + wait_ns else None,
        threads=int(data["threads"]),
    )


#: The work, as the verdict's sentence names it.
WORK = "the same plan-shaped work"


class _Stopped(Exception):
    """The verification cannot go on (its reason is already recorded)."""


class Verification:
    """Started early (the children start up while the report is collected), measured later."""

    def __init__(
        self,
        plan: ThreadPlan | None,
        environ: Mapping[str, str],
        *,
        budget: float,
        resolve: Callable[[Mapping[str, str]], ThreadPlan],
        pairs: int = PAIRS,
    ) -> None:
        """Start both children now, unless there is nothing to verify; ``resolve`` gives
        the plan an environment resolves to (the suggested exports')."""
        self.started = time.perf_counter()
        self.budget = budget
        self.pairs = pairs
        self.skip = nothing_to_suggest(plan, environ)
        self.children: dict[Variant, Child] = {}
        self.plan = plan
        self.failed: str | None = None
        if self.skip is not None or plan is None:
            return
        suggested = suggested_environ(plan, environ)
        plans: dict[Variant, tuple[Mapping[str, str], ThreadPlan]] = {
            Variant.CURRENT: (environ, plan),
            Variant.SUGGESTED: (suggested, resolve(suggested)),
        }
        for variant, (env, resolved) in plans.items():
            self.children[variant] = start_child(variant, env, resolved)

    def wait_ready(self) -> None:
        """Wait until both children have started, so that their start-up does not disturb
        what is measured next; a child that fails to start stops the verification."""
        deadline = time.monotonic() + START_TIMEOUT
        try:
            for child in self.children.values():
                if not child.ready:
                    child.ready = child.read_line(deadline)
        except (TimeoutError, EOFError, OSError, ValueError) as exc:
            self.failed = f"the verification stopped: {exc}"

    def close(self) -> None:
        for child in self.children.values():
            child.stop()
        self.children = {}

    def measure(self, progress: Progress | None = None) -> Comparison:
        """The pairs, judged; the children are stopped whatever happens."""
        say = progress or (lambda _message: None)
        if self.skip is not None:
            return nothing_to_verify("benchmark", self.skip)
        try:
            return self._measure(say)
        finally:
            self.close()

    def _measure(self, say: Progress) -> Comparison:
        plan = self.plan
        assert plan is not None
        runs: list[VariantRun] = []
        self.wait_ready()
        # the budget is the pairs': the children's start-up overlapped the other sections
        measuring = time.perf_counter()
        stopped = self.failed
        try:
            if stopped is not None:
                raise _Stopped(stopped)
            say("verifying the suggestion: calibrating")
            rates = calibrate()
            cpus = max(1, plan.effective)
            # the first pair is small: how much slower the current plan runs is unknown
            # until it has run, and a pair sized at the suggested speed overran the budget
            run_seconds = max(MIN_RUN_SECONDS, self.budget / (2 * self.pairs) / FIRST_PAIR_SHARE)
            for index in range(self.pairs):
                units, matmuls = rates.work(run_seconds, cpus)
                pair_started = time.perf_counter()
                for variant in order(index):
                    say(f"verifying the suggestion: pair {index + 1} of {self.pairs}, {variant}")
                    child = self.children[variant]
                    child.send(f"run {units} {matmuls}")
                    data = child.read_line(time.monotonic() + RUN_TIMEOUT)
                    runs.append(_variant_run(variant, data))
                # the next pairs share what is left of the budget, at this pair's real speed
                took = time.perf_counter() - pair_started
                left = self.budget - (time.perf_counter() - measuring)
                pairs_left = self.pairs - index - 1
                if pairs_left:
                    wanted = max(left, 0.0) / pairs_left
                    run_seconds = max(MIN_RUN_SECONDS, run_seconds * wanted / max(took, 1e-3))
        except _Stopped:
            pass
        except (TimeoutError, EOFError, OSError, ValueError, KeyError) as exc:
            stopped = f"the verification stopped: {exc}"
        variants = [
            summarise(
                Variant.CURRENT,
                [r for r in runs if r.variant == Variant.CURRENT],
                threads_planned=self._planned(Variant.CURRENT),
            ),
            summarise(
                Variant.SUGGESTED,
                [r for r in runs if r.variant == Variant.SUGGESTED],
                env=dict(plan.suggested_env),
                unset=plan.suggested_unset,
                threads_planned=self._planned(Variant.SUGGESTED),
            ),
        ]
        return compare(
            "benchmark",
            runs,
            variants,
            work=WORK,
            stopped=stopped,
            elapsed=time.perf_counter() - self.started,
        )

    def _planned(self, variant: Variant) -> int | None:
        child = self.children.get(variant)
        demand = child.ready.get("demand") if child is not None else None
        return int(demand) if demand is not None else None
