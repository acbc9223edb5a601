"""The verdict rule of ``--verify`` and ``--compare``, on recorded pairs of runs: at least
3 completed pairs, the geometric mean ratio with a 95% t interval on the log-ratios, judged
against the ±10% band; interrupted or failed runs are never paired."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from lkdoctor.bench.pairs import (
    MIN_PAIRS,
    NOISE,
    compare,
    describe,
    judge_ratios,
    nothing_to_verify,
    order,
    pair_up,
    summarise,
    t_quantile,
    times,
)
from lkdoctor.model import Comparison, Variant, VariantRun

FASTER, SLOWER = 1 + NOISE, 1 / (1 + NOISE)


def run(
    variant: Variant,
    wall: float,
    *,
    status: int = 0,
    threads: int = 4,
    interrupted_by: str | None = None,
) -> VariantRun:
    return VariantRun(
        variant=variant,
        wall_seconds=wall,
        cpu_seconds=wall * 1.5,
        wait_seconds=wall / 2,
        wait_share=0.25,
        threads=threads,
        exit_status=status,
        interrupted_by=interrupted_by,
    )


def recorded(*walls: tuple[float, float]) -> list[VariantRun]:
    """Runs in the order measured (ABBA), from (current, suggested) wall times per pair."""
    runs = []
    for index, (current, suggested) in enumerate(walls):
        by_variant = {"current": current, "suggested": suggested}
        runs += [run(variant, by_variant[variant]) for variant in order(index)]
    return runs


def judged(*walls: tuple[float, float], subject: str = "benchmark") -> Comparison:
    return judged_runs(recorded(*walls), subject=subject)


def judged_runs(runs: list[VariantRun], subject: str = "benchmark", **kwargs: object) -> Comparison:
    variants = [summarise(v, [r for r in runs if r.variant == v]) for v in ("current", "suggested")]
    return compare(subject, runs, variants, work="the work", **kwargs)  # type: ignore[arg-type]


def scipy_interval(ratios: list[float]) -> tuple[float, float, float]:
    """The reference: geometric mean and 95% t interval of ``ratios``, by scipy."""
    logs = [math.log(r) for r in ratios]
    mean, sem = statistics.fmean(logs), stats.sem(logs)
    low, high = stats.t.interval(0.95, len(logs) - 1, loc=mean, scale=sem)
    return math.exp(mean), math.exp(low), math.exp(high)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 6, 9, 10, 19, 29, 30, 31, 50, 99])
def test_t_quantile_is_students(df: int) -> None:
    assert t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9)


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [
        ([1.8, 1.6, 2.0], "improved"),
        ([FASTER, FASTER, FASTER], "improved"),  # 1.1 exactly, no spread: on the edge
        ([0.5, 0.6, 0.55], "worse"),
        ([SLOWER, SLOWER, SLOWER], "worse"),  # 1/1.1 exactly
        ([1.0, 1.01, 0.99, 1.0], "no-gain"),  # a tight interval inside the band
        ([1.08, 1.08, 1.08], "no-gain"),  # a real 8% gain is no gain beyond 10%
        # the old rule called this no-gain ("as fast as"); its interval is 0.88–1.13×
        ([1.0, 0.95, 1.05], "inconclusive"),
        ([1.0999, 1.5, 2.0], "inconclusive"),  # interval 0.7–2.8×: reaches below the band
        ([1.3, 0.95, 1.2], "inconclusive"),  # straddles
        ([1.5, 0.7, 1.1], "inconclusive"),
        # below 3 pairs nothing is decided, however clear they look
        ([5.0], "inconclusive"),
        ([0.2], "inconclusive"),
        ([1.0], "inconclusive"),
        ([2.0, 2.0], "inconclusive"),
        ([], "inconclusive"),  # nothing finished
    ],
)
def test_the_rule(ratios: list[float], verdict: str) -> None:
    assert judge_ratios(ratios).verdict == verdict


@pytest.mark.parametrize(
    "ratios", [[1.8, 1.6, 2.0], [1.3, 0.95, 1.2], [0.5, 0.6, 0.55, 0.7], [1.0, 1.01, 0.99, 1.0]]
)
def test_the_ratio_is_the_geometric_mean_with_a_t_interval(ratios: list[float]) -> None:
    judgement = judge_ratios(ratios)
    mean, low, high = scipy_interval(ratios)
    assert judgement.ratio == pytest.approx(mean, rel=1e-9)
    assert judgement.low == pytest.approx(low, rel=1e-9)
    assert judgement.high == pytest.approx(high, rel=1e-9)
    assert judgement.pairs == len(ratios)


@given(st.lists(st.floats(min_value=0.2, max_value=5.0), min_size=3, max_size=3))
def test_three_pairs_improved_only_when_every_pair_is_beyond_the_band(ratios: list[float]) -> None:
    """Why the old unanimity guard was dropped: at 3 pairs the interval already implies it
    (and at more pairs it would only cost power)."""
    verdict = judge_ratios(ratios).verdict
    if verdict == "improved":
        assert min(ratios) >= FASTER - 1e-9
    if verdict == "worse":
        assert max(ratios) <= SLOWER + 1e-9


def test_with_more_pairs_one_below_the_band_does_not_veto_a_clear_gain() -> None:
    ratios = [1.6, 1.7, 1.8, 1.65, 1.75, 1.7, 1.6, 1.8, 1.7, 1.05]
    judgement = judge_ratios(ratios)
    assert judgement.verdict == "improved" and judgement.low is not None and judgement.low > FASTER


def test_pairs_needed_is_the_smallest_count_that_would_clear_the_band() -> None:
    ratios = [1.3, 1.6, 1.9]
    judgement = judge_ratios(ratios)
    assert judgement.verdict == "inconclusive"
    logs = [math.log(r) for r in ratios]
    distance = statistics.fmean(logs) - math.log(FASTER)
    sd = statistics.stdev(logs)
    expected = next(
        n for n in range(4, 101) if stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) < distance
    )
    assert judgement.pairs_needed == expected
    # a mean on the band's edge: no count of pairs at this spread would decide it
    assert judge_ratios([FASTER / 1.2, FASTER * 1.2, FASTER]).pairs_needed is None


def test_a_single_pair_is_inconclusive_and_says_how_many_more() -> None:
    result = judged((5.0, 1.0), subject="command")
    assert result.verdict == "inconclusive" and result.ratio == 5.0
    assert (result.interval_low, result.interval_high) == (None, None)  # no spread of one
    assert result.pairs_needed == MIN_PAIRS == result.min_pairs
    assert result.reason == (
        "no verdict from 1 pair of the work (5.0×): a verdict needs at least 3 completed "
        "pairs, 2 more (--repeat 3)"
    )


def test_improved_says_the_geometric_mean_and_the_interval() -> None:
    result = judged((2.0, 1.0), (1.8, 1.2), (3.0, 1.5))
    assert [p.ratio for p in result.pairs] == [2.0, 1.5, 2.0]
    for pair in result.pairs:
        assert pair.ratio == round(pair.current.wall_seconds / pair.suggested.wall_seconds, 4)
    mean, low, high = scipy_interval([2.0, 1.5, 2.0])
    assert result.ratio == round(mean, 4)
    assert (result.interval_low, result.interval_high) == (round(low, 4), round(high, 4))
    assert (result.ratio_min, result.ratio_max) == (1.5, 2.0)
    assert result.verdict == "improved" and result.pairs_needed is None
    assert result.reason == (
        f"the suggested settings ran the work {times(mean)} faster here (geometric mean, "
        f"95% interval {times(low).rstrip('×')}–{times(high)}, 3 pairs)"
    )
    current, suggested = result.variants
    assert (current.wall_seconds, suggested.wall_seconds) == (2.0, 1.2)  # medians
    assert current.runs == suggested.runs == 3 and current.threads == 4


def test_edges_from_recorded_walls_are_judged_exactly() -> None:
    """Walls of 1.1 s against 1.0 s are 1.1× (improved); 1.0 against 1.1 is 1/1.1 (worse),
    though the pair's ratio shown to four decimals, 0.9091, is above 1/1.1."""
    assert judged((1.1, 1.0), (2.2, 2.0), (3.3, 3.0)).verdict == "improved"
    worse = judged((1.0, 1.1), (2.0, 2.2), (3.0, 3.3))
    assert worse.pairs[0].ratio == 0.9091 and worse.verdict == "worse"
    assert worse.reason.startswith("the suggested settings ran the work 1.10× slower here")


def test_inconclusive_says_the_interval_and_the_pairs_that_would_decide() -> None:
    result = judged((1.3, 1.0), (1.6, 1.0), (1.9, 1.0), subject="command")
    needed = result.pairs_needed
    assert result.verdict == "inconclusive" and needed is not None and needed > 3
    assert result.reason.startswith("no verdict: the 95% interval ")
    assert f"about {needed} pairs at this spread would decide it (--repeat {needed})" in (
        result.reason
    )
    benchmark = judged((1.3, 1.0), (1.6, 1.0), (1.9, 1.0))
    assert f"lenskit doctor --compare --repeat {needed} -- COMMAND" in benchmark.reason


def test_no_gain_says_no_gain_beyond_the_band_not_as_fast() -> None:
    result = judged((1.0, 1.0), (1.01, 1.0), (0.99, 1.0), (1.0, 1.0))
    assert result.verdict == "no-gain"
    assert result.reason.startswith("no gain beyond 10% measured: the work ran within ±10%")
    assert "as fast as" not in result.reason


def test_failed_runs_make_no_pair_and_stopping_is_said() -> None:
    runs = [run("current", 2.0), run("suggested", 1.0), run("suggested", 0.2, status=3)]
    assert len(pair_up(runs)) == 1
    result = judged_runs(runs, subject="command", stopped="it failed", exit_status=3)
    assert result.verdict == "inconclusive" and len(result.pairs) == 1
    assert result.reason.startswith("it failed; no verdict from 1 pair of the work (2.0×)")
    assert result.variants[1].exit_status == 3 and result.variants[1].runs == 2


def test_an_interrupted_run_that_exited_0_is_never_paired() -> None:
    """A 10 s current run against a suggested run cut off at 2 s (the command trapped
    SIGINT and exited 0) would read "5.0× faster": it is listed as interrupted instead."""
    cut = run("suggested", 2.0, interrupted_by="SIGINT")
    runs = [run("current", 10.0), cut]
    assert pair_up(runs) == []
    result = judged_runs(runs, subject="command", stopped="interrupted (SIGINT)")
    assert result.pairs == [] and result.ratio is None and result.verdict == "inconclusive"
    assert result.interrupted == [cut]
    # earlier complete pairs still count; the interrupted pair's other run is in no pair
    longer = [*recorded((2.0, 1.0), (2.0, 1.0), (2.0, 1.0)), run("current", 10.0), cut]
    kept = judged_runs(longer)
    assert len(kept.pairs) == 3 and kept.interrupted == [cut]
    assert all(p.suggested.interrupted_by is None for p in kept.pairs)


def test_no_pair_is_inconclusive_and_says_so() -> None:
    result = compare("benchmark", [run("current", 1.0)], [], work="the work")
    assert result.verdict == "inconclusive" and result.ratio is None and result.pairs == []
    assert describe(result, "the work").startswith(
        "no pair of the work finished, so no gain was measured; a verdict needs at least 3"
    )


def test_order_alternates_abba() -> None:
    assert [order(i) for i in range(3)] == [
        ("current", "suggested"),
        ("suggested", "current"),
        ("current", "suggested"),
    ]


def test_nothing_to_verify_has_no_runs() -> None:
    result = nothing_to_verify("command", "the plan fits", ["true"])
    assert result.verdict == "nothing-to-verify" and result.pairs == [] and result.variants == []
    assert result.command == ["true"] and result.reason == "the plan fits"


def test_times_keeps_two_decimals_near_one() -> None:
    assert (times(1.05), times(1.8), times(0.5)) == ("1.05×", "1.8×", "0.50×")
