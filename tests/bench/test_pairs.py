"""The pair verdict rule of ``--verify`` and ``--compare``, on recorded pairs of runs."""

from __future__ import annotations

import pytest

from lkdoctor.bench.pairs import (
    NOISE,
    compare,
    describe,
    judge_ratios,
    nothing_to_verify,
    order,
    pair_up,
    summarise,
    times,
)
from lkdoctor.model import Comparison, Variant, VariantRun

FASTER, SLOWER = 1 + NOISE, 1 / (1 + NOISE)


def run(variant: Variant, wall: float, *, status: int = 0, threads: int = 4) -> VariantRun:
    return VariantRun(
        variant=variant,
        wall_seconds=wall,
        cpu_seconds=wall * 1.5,
        wait_seconds=wall / 2,
        wait_share=0.25,
        threads=threads,
        exit_status=status,
    )


def recorded(*walls: tuple[float, float]) -> list[VariantRun]:
    """Runs in the order measured (ABBA), from (current, suggested) wall times per pair."""
    runs = []
    for index, (current, suggested) in enumerate(walls):
        by_variant = {"current": current, "suggested": suggested}
        runs += [run(variant, by_variant[variant]) for variant in order(index)]
    return runs


def judged(*walls: tuple[float, float]) -> Comparison:
    runs = recorded(*walls)
    variants = [summarise(v, [r for r in runs if r.variant == v]) for v in ("current", "suggested")]
    return compare("benchmark", runs, variants, work="the work")


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [
        ([1.8, 1.6, 2.0], "improved"),
        ([FASTER, FASTER, FASTER], "improved"),  # 1.1 exactly is beyond the noise
        ([1.0999, 1.5, 2.0], "inconclusive"),  # one pair inside the band
        ([0.5, 0.6, 0.55], "worse"),
        ([SLOWER, SLOWER], "worse"),  # 1/1.1 exactly
        ([0.9092, 0.5], "inconclusive"),
        ([1.0, 0.95, 1.05], "no-gain"),
        ([1.0999, 0.9092], "no-gain"),
        ([1.3, 0.95, 1.2], "inconclusive"),  # straddles
        ([1.5, 0.7], "inconclusive"),  # one faster, one slower
        ([1.5], "improved"),  # a single pair is judged as well
        ([1.0], "no-gain"),
        ([0.8], "worse"),
        ([], "inconclusive"),  # nothing finished
    ],
)
def test_the_rule_asks_every_pair_to_agree(ratios: list[float], verdict: str) -> None:
    assert judge_ratios(ratios) == verdict


def test_ratio_and_spread_are_the_recorded_walls() -> None:
    result = judged((2.0, 1.0), (1.8, 1.2), (3.0, 1.5))
    assert [p.ratio for p in result.pairs] == [2.0, 1.5, 2.0]
    for pair in result.pairs:
        assert pair.ratio == round(pair.current.wall_seconds / pair.suggested.wall_seconds, 4)
    assert (result.ratio_min, result.ratio, result.ratio_max) == (1.5, 2.0, 2.0)
    assert result.verdict == "improved"
    assert result.reason == (
        "the suggested settings ran the work 2.0× faster here (1.5–2.0×, 3 pairs)"
    )
    current, suggested = result.variants
    assert (current.wall_seconds, suggested.wall_seconds) == (2.0, 1.2)  # medians
    assert current.runs == suggested.runs == 3 and current.threads == 4


def test_edges_from_recorded_walls_are_judged_exactly() -> None:
    """Walls of 1.1 s against 1.0 s are 1.1× (improved); 1.0 against 1.1 is 1/1.1 (worse),
    though the pair's ratio shown to four decimals, 0.9091, is above 1/1.1."""
    assert judged((1.1, 1.0), (2.2, 2.0)).verdict == "improved"
    worse = judged((1.0, 1.1))
    assert worse.pairs[0].ratio == 0.9091 and worse.verdict == "worse"
    assert (
        worse.reason == "the suggested settings ran the work 1.10× slower here (0.91–0.91×, 1 pair)"
    )


def test_straddling_pairs_are_inconclusive_and_say_the_median() -> None:
    result = judged((1.3, 1.0), (0.95, 1.0), (1.2, 1.0))
    assert result.verdict == "inconclusive"
    assert (result.ratio_min, result.ratio, result.ratio_max) == (0.95, 1.2, 1.3)
    assert result.reason == (
        "no clear gain was measured: the pairs of the work disagree (0.95–1.3×, 3 pairs, "
        "median 1.2×)"
    )


def test_no_gain_says_the_noise_band() -> None:
    result = judged((1.0, 1.02), (1.05, 1.0))
    assert result.verdict == "no-gain"
    assert "within ±10%" in result.reason and "2 pairs" in result.reason


def test_failed_runs_make_no_pair_and_stopping_is_said() -> None:
    runs = [run("current", 2.0), run("suggested", 1.0), run("suggested", 0.2, status=3)]
    assert len(pair_up(runs)) == 1
    variants = [summarise(v, [r for r in runs if r.variant == v]) for v in ("current", "suggested")]
    result = compare(
        "command", runs, variants, work="your command", stopped="it failed", exit_status=3
    )
    assert result.verdict == "improved" and len(result.pairs) == 1
    assert result.reason.startswith("it failed; the suggested settings ran your command 2.0×")
    assert variants[1].exit_status == 3 and variants[1].runs == 2


def test_no_pair_is_inconclusive_and_says_so() -> None:
    result = compare("benchmark", [run("current", 1.0)], [], work="the work")
    assert result.verdict == "inconclusive" and result.ratio is None and result.pairs == []
    assert describe(result, "the work") == "no pair of the work finished, so no gain was measured"


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
