"""The measured verdict reaches the plan finding: improved keeps it and quotes the gain,
no-gain makes it a warning, worse stops recommending the suggestion, inconclusive says how
to get a verdict."""

from __future__ import annotations

import pytest
from samples import TOOL

from lkdoctor.bench.pairs import compare, order, summarise
from lkdoctor.checks.verification import quote
from lkdoctor.model import Comparison, Finding, VariantRun
from lkdoctor.report import Report

SUGGESTED = {"LK_NUM_THREADS": "2", "LK_NUM_BACKEND_THREADS": "1"}
REMEDIATION = "use the suggested lists"


def plan_finding(severity: str = "error") -> Finding:
    return Finding(
        id="plan-oversubscribed",
        severity=severity,
        section="plan",
        title="Level 0 of the thread plan asks for 64 threads on 2 CPUs",
        evidence="level 0: 1 process × 8 threads × 8 backend threads = 64",
        remediation=REMEDIATION,
        env=SUGGESTED,
    )


def other_finding() -> Finding:
    return Finding(
        id="cpu-count-mismatch", severity="warning", section="cpu", title="t", evidence="e"
    )


def measured(*ratios: float, subject: str = "command") -> Comparison:
    runs = []
    for index, ratio in enumerate(ratios):
        walls = {"current": ratio, "suggested": 1.0}
        for variant in order(index):
            runs.append(
                VariantRun(
                    variant=variant,
                    wall_seconds=walls[variant],
                    cpu_seconds=1.0,
                    wait_seconds=0.1,
                    threads=4,
                )
            )
    variants = [summarise(v, [r for r in runs if r.variant == v]) for v in ("current", "suggested")]
    return compare(subject, runs, variants, work="your command")  # type: ignore[arg-type]


def judged(comparison: Comparison, severity: str = "error") -> list[Finding]:
    report = Report(tool=TOOL, comparison=comparison)
    return quote([plan_finding(severity), other_finding()], report)


def test_improved_keeps_the_error_and_quotes_the_gain() -> None:
    comparison = measured(2.0, 1.9, 2.1)
    assert comparison.verdict == "improved"
    plan, other = judged(comparison)
    assert plan.severity == "error" and plan.env == SUGGESTED
    assert plan.remediation == f"{REMEDIATION}; measured: {comparison.reason}"
    assert "faster here (geometric mean, 95% interval" in plan.remediation
    assert other == other_finding()


def test_no_gain_makes_it_a_warning_and_says_it_cost_nothing_measurable() -> None:
    comparison = measured(1.0, 1.01, 0.99, 1.0)
    assert comparison.verdict == "no-gain"
    plan, _ = judged(comparison)
    assert plan.severity == "warning" and plan.env == SUGGESTED
    assert plan.remediation.startswith(
        f"{REMEDIATION}; measured: the oversubscription cost nothing measurable for this "
        "work here (no gain beyond 10% measured"
    )


def test_worse_stops_recommending_the_suggestion_and_marks_its_exports() -> None:
    comparison = measured(0.5, 0.55, 0.6)
    assert comparison.verdict == "worse"
    plan, _ = judged(comparison)
    assert REMEDIATION not in plan.remediation
    assert plan.remediation == (
        f"measured: the suggestion was slower here ({comparison.reason}), so it is not the fix "
        "for this work; the export lines below are the settings measured slower"
    )
    assert plan.env == SUGGESTED  # the export lines stay, marked in the remediation
    assert plan.severity == "error"


@pytest.mark.parametrize("ratios", [(5.0,), (1.3, 1.6, 1.9)])
def test_inconclusive_changes_nothing_but_says_how_to_get_a_verdict(
    ratios: tuple[float, ...],
) -> None:
    comparison = measured(*ratios)
    assert comparison.verdict == "inconclusive"
    plan, _ = judged(comparison, severity="warning")
    assert plan.severity == "warning" and plan.env == SUGGESTED
    assert plan.remediation == f"{REMEDIATION}; measured, without a verdict: {comparison.reason}"
    assert "--repeat " in plan.remediation
