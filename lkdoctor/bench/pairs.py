"""Current settings against the suggested exports: the verdict on measured pairs.

Both ``--verify`` (the plan-shaped benchmark) and ``--compare -- COMMAND`` (the user's own
run) measure the two variants back to back, in pairs, and judge them here by one rule:

- each pair's ratio is the current run's wall time over the suggested run's, so above 1
  means the suggestion ran the same work faster; a run that failed or was interrupted (a
  stopping signal reached it, whatever its exit status) is in no pair;
- the ratio reported is the geometric mean of the pairs' ratios, with a 95% confidence
  interval from Student's t on the log-ratios (exp(mean ± t(0.975, n-1) · sd / √n));
- fewer than ``MIN_PAIRS`` (3) completed pairs: ``inconclusive``, whatever they show;
- ``improved``: the interval lies above 1 + ``NOISE``;
- ``worse``: the interval lies below 1 / (1 + ``NOISE``);
- ``no-gain``: the interval lies inside that band (no gain beyond 10% measured);
- ``inconclusive``: otherwise (the interval straddles an edge of the band).

The earlier rule asked every pair to agree. It is dropped because it adds no safety: with
3 pairs, an interval above 1 + noise already puts every pair there (a single value of 3
lies at most 2/√3 = 1.15 standard deviations from their mean, and t(0.975, 2) / √3 = 2.48
of them separate the mean from the interval's lower end); with more pairs it would only
throw away the power the extra pairs bring.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lkdoctor.model import (
    MIN_PAIRS,
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
#: Confidence of the interval around the geometric mean ratio.
CONFIDENCE = 0.95
#: The most pairs the doctor would suggest measuring for a verdict.
MOST_PAIRS = 100
#: Slack of the comparisons in log space, so that 1.1 recorded is 1.1 judged.
_EPSILON = 1e-12


def _t_two_sided_coverage(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with ``df`` (≥ 1) degrees of freedom, exactly, by the
    finite series for integer degrees of freedom (Abramowitz & Stegun 26.7.3, 26.7.4)."""
    theta = math.atan(t / math.sqrt(df))
    cos, sin = math.cos(theta), math.sin(theta)
    # odd df: (2/π)(θ + sinθ·(cosθ + 2/3 cos³θ + …)); even df: sinθ·(1 + 1/2 cos²θ + …)
    term = cos if df % 2 == 1 else 1.0
    total = term if df > 1 else 0.0
    for k in range(3 if df % 2 == 1 else 2, df - 1, 2):
        term *= cos * cos * (k - 1) / k
        total += term
    if df % 2 == 1:
        return (2 / math.pi) * (theta + sin * total)
    return sin * total


def t_quantile(probability: float, df: int) -> float:
    """The ``probability`` quantile (> 0.5) of Student's t with ``df`` degrees of freedom."""
    coverage = 2 * probability - 1
    low, high = 0.0, 1.0
    while _t_two_sided_coverage(high, df) < coverage:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if _t_two_sided_coverage(middle, df) < coverage:
            low = middle
        else:
            high = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2


@dataclass(frozen=True)
class Judgement:
    """The verdict on a set of pair ratios, with the numbers it rests on."""

    verdict: ComparisonVerdict
    pairs: int
    #: geometric mean of the ratios, and its confidence interval (None without pairs /
    #: with a single pair, which has no spread)
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    #: inconclusive: the pairs that would likely decide it at the spread measured
    pairs_needed: int | None = None


def _pairs_to_decide(logs: Sequence[float], noise: float) -> int | None:
    """How many pairs with this mean and spread would make the interval clear the nearest
    edge of the band (None when the mean sits on an edge, or past ``MOST_PAIRS``)."""
    if len(logs) < 2:
        return MIN_PAIRS
    mean, sd = statistics.fmean(logs), statistics.stdev(logs)
    edge = math.log1p(noise)
    # the distance from the mean to the edge its interval has to clear, for each verdict
    # the mean points to
    distance = max(mean - edge, -edge - mean, edge - abs(mean))
    if distance <= 0:
        return None
    for count in range(max(MIN_PAIRS, len(logs) + 1), MOST_PAIRS + 1):
        if t_quantile((1 + CONFIDENCE) / 2, count - 1) * sd / math.sqrt(count) < distance:
            return count
    return None


def judge_ratios(ratios: Sequence[float], noise: float = NOISE) -> Judgement:
    """The verdict on the completed pairs' ratios (see the module's rule)."""
    count = len(ratios)
    if count == 0:
        return Judgement(ComparisonVerdict.INCONCLUSIVE, 0, pairs_needed=MIN_PAIRS)
    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    if count == 1:
        return Judgement(
            ComparisonVerdict.INCONCLUSIVE, 1, ratio=math.exp(mean), pairs_needed=MIN_PAIRS
        )
    half = t_quantile((1 + CONFIDENCE) / 2, count - 1) * statistics.stdev(logs) / math.sqrt(count)
    low, high, edge = mean - half, mean + half, math.log1p(noise)
    verdict = ComparisonVerdict.INCONCLUSIVE
    if count >= MIN_PAIRS:
        if low >= edge - _EPSILON:
            verdict = ComparisonVerdict.IMPROVED
        elif high <= -edge + _EPSILON:
            verdict = ComparisonVerdict.WORSE
        elif -edge < low and high < edge:
            verdict = ComparisonVerdict.NO_GAIN
    needed = None
    if verdict == ComparisonVerdict.INCONCLUSIVE:
        needed = MIN_PAIRS if count < MIN_PAIRS else _pairs_to_decide(logs, noise)
    return Judgement(
        verdict,
        count,
        ratio=math.exp(mean),
        low=math.exp(low),
        high=math.exp(high),
        pairs_needed=needed,
    )


def times(ratio: float) -> str:
    """``1.8×``, with one decimal, two below 1.1 so that 1.05 is not shown as 1.1."""
    return f"{ratio:.2f}×" if ratio < 1.1 else f"{ratio:.1f}×"


def _count(pairs: int) -> str:
    return f"{pairs} pair{'' if pairs == 1 else 's'}"


def spread(comparison: Comparison) -> str:
    """``95% interval 1.6–2.0×, 3 pairs`` (only the count while there is no interval)."""
    pairs = _count(len(comparison.pairs))
    low, high = comparison.interval_low, comparison.interval_high
    if low is None or high is None:
        return pairs
    return f"{comparison.confidence:.0%} interval {times(low).rstrip('×')}–{times(high)}, {pairs}"


def more_pairs(comparison: Comparison, needed: int) -> str:
    """How to measure ``needed`` pairs: ``--repeat N`` for a command; for the benchmark,
    which always measures ``MIN_PAIRS``, the command's own comparison."""
    if comparison.subject == "command":
        return f"--repeat {needed}"
    return f"lenskit doctor --compare --repeat {needed} -- COMMAND on your own run"


def describe(comparison: Comparison, work: str) -> str:
    """The measured result in one sentence, as the plan finding's remediation quotes it."""
    verdict, ratio, count = comparison.verdict, comparison.ratio, len(comparison.pairs)
    needed = comparison.pairs_needed
    if ratio is None:
        return (
            f"no pair of {work} finished, so no gain was measured; a verdict needs at least "
            f"{comparison.min_pairs} pairs ({more_pairs(comparison, comparison.min_pairs)})"
        )
    if verdict == ComparisonVerdict.IMPROVED:
        return (
            f"the suggested settings ran {work} {times(ratio)} faster here (geometric mean, "
            f"{spread(comparison)})"
        )
    if verdict == ComparisonVerdict.WORSE:
        return (
            f"the suggested settings ran {work} {times(1 / ratio)} slower here (geometric "
            f"mean, {spread(comparison)})"
        )
    if verdict == ComparisonVerdict.NO_GAIN:
        return (
            f"no gain beyond {comparison.noise:.0%} measured: {work} ran within "
            f"±{comparison.noise:.0%} under both settings here ({times(ratio)}, "
            f"{spread(comparison)})"
        )
    if count < comparison.min_pairs:
        more = comparison.min_pairs - count
        return (
            f"no verdict from {_count(count)} of {work} ({times(ratio)}): a verdict needs at "
            f"least {comparison.min_pairs} completed pairs, {more} more "
            f"({more_pairs(comparison, comparison.min_pairs)})"
        )
    decide = (
        f"; about {needed} pairs at this spread would decide it ({more_pairs(comparison, needed)})"
        if needed is not None
        else f"; at this spread even {MOST_PAIRS} pairs would likely not decide it"
    )
    return (
        f"no verdict: the {spread(comparison)} of {work} around {times(ratio)} reaches across "
        f"the ±{comparison.noise:.0%} band{decide}"
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


def completed(run: VariantRun) -> bool:
    """The run ended by itself, successfully: it may be paired."""
    return run.exit_status == 0 and run.interrupted_by is None


def pair_up(runs: Sequence[VariantRun]) -> list[ComparedPair]:
    """The runs in the order measured, two by two as they ran (ABBA), paired where both
    runs completed: a run that failed or was interrupted is in no pair."""
    pairs = []
    for first, second in zip(runs[0::2], runs[1::2], strict=False):
        if not (completed(first) and completed(second)) or first.variant == second.variant:
            continue
        current, suggested = (
            (first, second) if first.variant == Variant.CURRENT else (second, first)
        )
        pairs.append(
            ComparedPair(
                current=current, suggested=suggested, ratio=round(pair_ratio(current, suggested), 4)
            )
        )
    return pairs


def pair_ratio(current: VariantRun, suggested: VariantRun) -> float:
    """Current wall time over suggested wall time (> 1: the suggestion is faster)."""
    return current.wall_seconds / max(suggested.wall_seconds, 1e-9)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


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
    """The comparison of ``runs`` (in the order measured), judged on its completed pairs."""
    pairs = pair_up(runs)
    # judged on the recorded walls' exact ratios: a pair at 1/1.1 exactly is 1/1.1, though
    # its ratio shown to 4 decimals (0.9091) is above the line
    ratios = [pair_ratio(p.current, p.suggested) for p in pairs]
    judged = judge_ratios(ratios, noise)
    result = Comparison(
        subject=subject,
        command=list(command) if command is not None else None,
        verdict=judged.verdict,
        variants=variants,
        pairs=pairs,
        interrupted=[r for r in runs if r.interrupted_by is not None],
        ratio=_rounded(judged.ratio),
        interval_low=_rounded(judged.low),
        interval_high=_rounded(judged.high),
        confidence=CONFIDENCE,
        min_pairs=MIN_PAIRS,
        pairs_needed=judged.pairs_needed,
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
