"""Current settings against the suggested exports: the verdict on measured pairs.

Both ``--verify`` (the plan-shaped benchmark) and ``--compare -- COMMAND`` (the user's own
run) measure the two variants back to back, in pairs, and judge them here by one rule:

- each pair's ratio is the current run's wall time over the suggested run's, so above 1
  means the suggestion ran the same work faster;
- ``improved``: every pair is faster beyond the noise band (ratio ≥ 1 + ``NOISE``);
- ``worse``: every pair is slower beyond it (ratio ≤ 1 / (1 + ``NOISE``));
- ``no-gain``: every pair is within the band;
- ``inconclusive``: the pairs disagree (their spread straddles the band), or none finished.

The rule asks all pairs to agree rather than averaging them, so one lucky pair on a
loaded machine cannot claim a gain.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal

from lkdoctor.model import (
    ComparedPair,
    Comparison,
    ComparisonVerdict,
    Variant,
    VariantRun,
    VariantSummary,
)

#: Ratios within 1 ± this are no difference: two runs of the same work on a shared
#: machine differ by this much without any change.
NOISE = 0.10


def pair_ratio(current: VariantRun, suggested: VariantRun) -> float:
    """Current wall time over suggested wall time (> 1: the suggestion is faster)."""
    return current.wall_seconds / max(suggested.wall_seconds, 1e-9)


def judge_ratios(ratios: Sequence[float], noise: float = NOISE) -> ComparisonVerdict:
    """The verdict on the pairs' ratios (see the module's rule)."""
    if not ratios:
        return ComparisonVerdict.INCONCLUSIVE
    faster, slower = 1.0 + noise, 1.0 / (1.0 + noise)
    if min(ratios) >= faster:
        return ComparisonVerdict.IMPROVED
    if max(ratios) <= slower:
        return ComparisonVerdict.WORSE
    if slower < min(ratios) and max(ratios) < faster:
        return ComparisonVerdict.NO_GAIN
    return ComparisonVerdict.INCONCLUSIVE


def times(ratio: float) -> str:
    """``1.8×``, with one decimal, two below 1.1 so that 1.05 is not shown as 1.1."""
    return f"{ratio:.2f}×" if ratio < 1.1 else f"{ratio:.1f}×"


def spread(comparison: Comparison) -> str:
    """``1.6–2.0×, 3 pairs``."""
    count = len(comparison.pairs)
    pairs = f"{count} pair{'' if count == 1 else 's'}"
    if comparison.ratio_min is None or comparison.ratio_max is None:
        return pairs
    return f"{times(comparison.ratio_min).rstrip('×')}–{times(comparison.ratio_max)}, {pairs}"


def describe(comparison: Comparison, work: str) -> str:
    """The measured result in one sentence, as the plan finding's remediation quotes it."""
    verdict, ratio = comparison.verdict, comparison.ratio
    if ratio is None:
        return f"no pair of {work} finished, so no gain was measured"
    if verdict == ComparisonVerdict.IMPROVED:
        return (
            f"the suggested settings ran {work} {times(ratio)} faster here ({spread(comparison)})"
        )
    if verdict == ComparisonVerdict.WORSE:
        return (
            f"the suggested settings ran {work} {times(1 / ratio)} slower here "
            f"({spread(comparison)})"
        )
    if verdict == ComparisonVerdict.NO_GAIN:
        return (
            f"no gain was measured: the suggested settings ran {work} as fast as the current "
            f"ones here ({spread(comparison)}, within ±{comparison.noise:.0%})"
        )
    return (
        f"no clear gain was measured: the pairs of {work} disagree ({spread(comparison)}, "
        f"median {times(ratio)})"
    )


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def summarise(
    variant: Variant,
    runs: Sequence[VariantRun],
    *,
    env: dict[str, str] | None = None,
    unset: Sequence[str] = (),
    threads_planned: int | None = None,
) -> VariantSummary:
    """One variant over its runs: medians, the peak threads and the last exit status."""
    shares = [r.wait_share for r in runs if r.wait_share is not None]
    return VariantSummary(
        variant=variant,
        env=dict(env or {}),
        unset=list(unset),
        threads_planned=threads_planned,
        runs=len(runs),
        wall_seconds=_median([r.wall_seconds for r in runs]),
        cpu_seconds=_median([r.cpu_seconds for r in runs]),
        wait_seconds=_median([r.wait_seconds for r in runs]),
        wait_share=None if not shares else round(statistics.median(shares), 3),
        threads=max((r.threads for r in runs), default=None),
        exit_status=runs[-1].exit_status if runs else None,
    )


def pair_up(runs: Sequence[VariantRun]) -> list[ComparedPair]:
    """The successful runs in the order measured, paired: the i-th current run with the
    i-th suggested run. A run that failed is in no pair."""
    done = [r for r in runs if r.exit_status == 0]
    current = [r for r in done if r.variant == Variant.CURRENT]
    suggested = [r for r in done if r.variant == Variant.SUGGESTED]
    return [
        ComparedPair(current=c, suggested=s, ratio=round(pair_ratio(c, s), 4))
        for c, s in zip(current, suggested, strict=False)
    ]


def compare(
    subject: Literal["benchmark", "command"],
    runs: Sequence[VariantRun],
    variants: list[VariantSummary],
    *,
    work: str,
    command: Sequence[str] | None = None,
    stopped: str | None = None,
    exit_status: int | None = None,
    elapsed: float | None = None,
    noise: float = NOISE,
) -> Comparison:
    """The comparison of ``runs`` (in the order measured), judged on its pairs."""
    pairs = pair_up(runs)
    # judged on the recorded walls' exact ratios: a pair at 1/1.1 exactly is worse, though
    # its ratio shown to 4 decimals (0.9091) is above the line
    ratios = [pair_ratio(p.current, p.suggested) for p in pairs]
    result = Comparison(
        subject=subject,
        command=list(command) if command is not None else None,
        verdict=judge_ratios(ratios, noise),
        variants=variants,
        pairs=pairs,
        ratio=_median(ratios),
        ratio_min=round(min(ratios), 4) if ratios else None,
        ratio_max=round(max(ratios), 4) if ratios else None,
        noise=noise,
        work=work,
        stopped=stopped,
        exit_status=exit_status,
        elapsed_seconds=None if elapsed is None else round(elapsed, 3),
    )
    said = describe(result, work)
    result.reason = f"{stopped}; {said}" if stopped else said
    return result


def nothing_to_verify(
    subject: Literal["benchmark", "command"], reason: str, command: Sequence[str] | None = None
) -> Comparison:
    """No run: the plan already fits, or there is no suggestion to measure."""
    return Comparison(
        subject=subject,
        command=list(command) if command is not None else None,
        verdict=ComparisonVerdict.NOTHING_TO_VERIFY,
        reason=reason,
        noise=NOISE,
    )


def order(pair_index: int) -> tuple[Variant, Variant]:
    """Which variant runs first in pair ``pair_index``: swapped every pair (ABBA), so a
    machine that gets busier or quieter over time favours neither."""
    if pair_index % 2 == 0:
        return (Variant.CURRENT, Variant.SUGGESTED)
    return (Variant.SUGGESTED, Variant.CURRENT)
