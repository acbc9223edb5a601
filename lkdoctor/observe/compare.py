"""``lenskit doctor --compare -- COMMAND``: the user's own run under the current settings
and under the suggested exports, ``repeat`` times each (3 by default: the fewest pairs a
verdict needs), alternating.

Every run goes through ``-- COMMAND``'s machinery (:func:`run_command`: stdio untouched,
signals passed on, the tree observed from birth to exit), and is judged by the same pair
rule as ``--verify`` (:mod:`lkdoctor.bench.pairs`). A run that fails stops the comparison;
so does an interrupt (Ctrl-C, SIGTERM): what was measured until then is still reported, and
the interrupted run is listed as such, never paired.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lkdoctor.bench.pairs import compare, nothing_to_verify, order, summarise
from lkdoctor.bench.verify import nothing_to_suggest, suggested_environ
from lkdoctor.model import MIN_PAIRS, Comparison, Observed, Variant, VariantRun
from lkdoctor.observe.command import CommandRun, run_command
from lkdoctor.observe.plan import planned_threads
from lkdoctor.report import ThreadPlan

#: Signals that mean "stop": the comparison ends after the run they reached.
STOPPING = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")

#: The work, as the verdict's sentence names it.
WORK = "your command"

Starting = Callable[[str, int, int], None]


@dataclass
class ComparedCommand:
    """The comparison, and the exit status the doctor ends with (the failing run's)."""

    comparison: Comparison
    exit_status: int


def variant_run(
    variant: Variant, observed: Observed | None, status: int, interrupted_by: str | None = None
) -> VariantRun:
    """A run of the command as its observation measured it; ``interrupted_by``: the
    stopping signal that reached it (such a run is never paired)."""
    if observed is None:
        return VariantRun(
            variant=variant,
            wall_seconds=0.0,
            cpu_seconds=0.0,
            wait_seconds=0.0,
            threads=0,
            exit_status=status,
            interrupted_by=interrupted_by,
        )
    runnable = observed.cpu_seconds + observed.wait_seconds
    return VariantRun(
        variant=variant,
        wall_seconds=observed.seconds,
        cpu_seconds=observed.cpu_seconds,
        wait_seconds=observed.wait_seconds,
        wait_share=round(observed.wait_seconds / runnable, 3) if runnable else None,
        threads=max((point.threads for point in observed.timeline), default=0)
        or sum(process.threads for process in observed.processes),
        exit_status=status,
        interrupted_by=interrupted_by,
    )


def _planned(plan: ThreadPlan | None) -> int | None:
    return planned_threads(plan.levels[0]) if plan is not None and plan.levels else None


def compare_command(
    command: Sequence[str],
    plan: ThreadPlan | None,
    environ: Mapping[str, str],
    *,
    repeat: int = MIN_PAIRS,
    cpus: int | None,
    suggested_plan: ThreadPlan | None = None,
    starting: Starting | None = None,
) -> ComparedCommand:
    """Run ``command`` ``repeat`` times under each variant, alternating, and judge.

    OSError when the command cannot be started (as ``-- COMMAND``); nothing runs when
    there is nothing to suggest.
    """
    skip = nothing_to_suggest(plan, environ)
    if skip is not None or plan is None:
        return ComparedCommand(nothing_to_verify("command", skip or "", command), 0)
    envs: dict[Variant, Mapping[str, str]] = {
        Variant.CURRENT: environ,
        Variant.SUGGESTED: suggested_environ(plan, environ),
    }
    started = time.perf_counter()
    runs: list[VariantRun] = []
    stopped: str | None = None
    failed: int | None = None
    status = 0  # the doctor's exit status: a failing run's, or 128 + N after signal N
    try:
        for index in range(repeat):
            for variant in order(index):
                if starting is not None:
                    starting(variant, index + 1, repeat)
                done: CommandRun = run_command(command, cpus=cpus, env=envs[variant])
                signals = [name for name in done.received if name in STOPPING]
                # a run a stopping signal reached did not run its course, even if it then
                # exited 0 (a command that traps SIGINT): its wall time is no measurement
                runs.append(
                    variant_run(
                        variant,
                        done.observed.value,
                        done.exit_status,
                        signals[0] if signals else None,
                    )
                )
                if done.exit_status != 0:
                    failed = done.exit_status
                    stopped = (
                        f"the {variant} run of pair {index + 1} failed with exit status "
                        f"{done.exit_status}"
                        + (f" after {signals[0]}" if signals else "")
                        + ", so nothing else ran"
                    )
                elif signals:
                    stopped = (
                        f"interrupted ({signals[0]}) during the {variant} run of pair "
                        f"{index + 1}, which exited 0 but is not paired"
                    )
                    status = 128 + signal.Signals[signals[0]].value
                if stopped is not None:
                    break
            if stopped is not None:
                break
    except KeyboardInterrupt:  # Ctrl-C between two runs
        stopped = "interrupted (SIGINT) between two runs"
        status = 128 + signal.SIGINT.value
    variants = [
        summarise(
            Variant.CURRENT,
            [r for r in runs if r.variant == Variant.CURRENT],
            threads_planned=_planned(plan),
        ),
        summarise(
            Variant.SUGGESTED,
            [r for r in runs if r.variant == Variant.SUGGESTED],
            env=dict(plan.suggested_env),
            unset=plan.suggested_unset,
            threads_planned=_planned(suggested_plan),
        ),
    ]
    comparison = compare(
        "command",
        runs,
        variants,
        work=WORK,
        command=command,
        stopped=stopped,
        exit_status=failed,
        elapsed=time.perf_counter() - started,
    )
    return ComparedCommand(comparison, failed or status)
