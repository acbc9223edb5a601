"""The current settings against the suggested exports, side by side, in Markdown and text."""

from __future__ import annotations

import re

from rich.console import Console
from samples import TOOL

from lkdoctor.bench.pairs import compare, nothing_to_verify, order, summarise
from lkdoctor.model import Bench, Comparison, Variant, VariantRun
from lkdoctor.render.markdown import render_markdown
from lkdoctor.render.text import render_text
from lkdoctor.report import Report

SUGGESTED = {"LK_NUM_THREADS": "2", "LK_NUM_BACKEND_THREADS": "1"}


def run(variant: Variant, wall: float, cpu: float, share: float, threads: int) -> VariantRun:
    return VariantRun(
        variant=variant,
        wall_seconds=wall,
        cpu_seconds=cpu,
        wait_seconds=round(cpu * share / (1 - share), 4),
        wait_share=share,
        threads=threads,
    )


def verified() -> Comparison:
    """Three recorded pairs: the suggestion 2.0×, 1.5× and 1.6× faster."""
    walls = [(2.0, 1.0), (1.8, 1.2), (2.4, 1.5)]
    runs = []
    for index, (current, suggested) in enumerate(walls):
        for variant in order(index):
            if variant == "current":
                runs.append(run("current", current, current * 1.9, 0.75, 66))
            else:
                runs.append(run("suggested", suggested, suggested * 1.8, 0.1, 4))
    variants = [
        summarise("current", [r for r in runs if r.variant == "current"], threads_planned=64),
        summarise(
            "suggested",
            [r for r in runs if r.variant == "suggested"],
            env=SUGGESTED,
            unset=["LK_NUM_CHILD_THREADS"],
            threads_planned=2,
        ),
    ]
    return compare("benchmark", runs, variants, work="the same plan-shaped work")


def with_verification(comparison: Comparison) -> Report:
    bench = Bench(verdict="oversubscribed", reason="the plan's threads wait", budget_seconds=1.0)
    return Report(tool=TOOL, bench=bench.model_copy(update={"verification": comparison}))


def rows_of(markdown: str) -> dict[str, list[str]]:
    """First cell → the other cells of every table row."""
    found = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            found.setdefault(cells[0], cells[1:])
    return found


def test_markdown_shows_both_runs_the_ratio_and_the_verdict() -> None:
    comparison = verified()
    assert (comparison.ratio_min, comparison.ratio_max) == (1.5, 2.0)
    # the geometric mean of 2.0, 1.5 and 1.6, and its 95% t interval on the log-ratios
    assert (comparison.interval_low, comparison.ratio, comparison.interval_high) == (
        1.1594,
        1.6869,
        2.4543,
    )
    text = render_markdown(with_verification(comparison))
    measured = text.split(" Measured</summary>", 1)[1].split("</details>", 1)[0]
    assert "**suggestion verified: improved**: the suggested settings ran the same " in measured
    cells = rows_of(measured.split("**suggestion verified", 1)[1])
    assert cells[""] == ["current", "suggested"]
    assert cells["settings"] == [
        "as set",
        "LK_NUM_THREADS=2, LK_NUM_BACKEND_THREADS=1, unset LK_NUM_CHILD_THREADS",
    ]
    assert cells["threads planned"] == ["64", "2"]
    assert cells["threads seen"] == ["66", "4"]
    assert cells["wall time"] == ["2.00 s", "1.20 s"]  # medians of the three runs
    assert cells["CPU time"] == ["3.80 s", "2.16 s"]
    assert cells["waiting for a CPU"] == ["75%", "10%"]
    assert cells["runs"] == ["3", "3"]
    assert cells["ratio (current ÷ suggested wall, geometric mean)"] == [
        "",
        "1.7× (95% interval 1.2–2.5×, 3 pairs)",
    ]
    assert cells["verdict"] == ["", "improved"]
    # every pair, in the order measured, with its own ratio
    assert cells["pair"] == ["current wall", "suggested wall", "ratio"]
    assert cells["1"] == ["2.00 s", "1.00 s", "2.0×"]
    assert cells["2"] == ["1.80 s", "1.20 s", "1.5×"]
    assert cells["3"] == ["2.40 s", "1.50 s", "1.6×"]
    # the summary table names the verdict too; the rest of the benchmark is still there
    assert "suggestion verified: improved |" in text
    assert "| verdict | oversubscribed |" in measured and "| budget_seconds | 1.0 |" in measured


def test_markdown_nothing_to_verify_is_one_line_and_no_table() -> None:
    report = with_verification(nothing_to_verify("benchmark", "the plan fits the 2 CPUs"))
    measured = render_markdown(report).split(" Measured</summary>", 1)[1].split("</details>")[0]
    assert "**suggestion verified: nothing-to-verify**: the plan fits the 2 CPUs" in measured
    assert "| settings |" not in measured and "| pair |" not in measured


def test_text_shows_the_same_cells() -> None:
    console = Console(width=120, record=True, color_system=None)
    render_text(with_verification(verified()), console)
    shown = console.export_text()
    measured = shown[shown.index("suggestion verified") - 400 :]
    assert re.search(r"wall time\s+2\.00 s\s+1\.20 s", shown)
    assert re.search(r"waiting for a CPU\s+75%\s+10%", shown)
    assert (
        "with the suggestion: 1.7× faster (geometric mean; 95% interval 1.2–2.5×, 3 pairs)" in shown
    )
    assert "suggestion verified: improved" in measured


def test_an_interrupted_run_is_listed_in_both_formats() -> None:
    cut = VariantRun(
        variant="suggested",
        wall_seconds=2.0,
        cpu_seconds=1.0,
        wait_seconds=0.1,
        threads=3,
        interrupted_by="SIGINT",
    )
    runs = [run("current", 10.0, 9.0, 0.5, 8), cut]
    variants = [summarise(v, [r for r in runs if r.variant == v]) for v in ("current", "suggested")]
    comparison = compare("command", runs, variants, work="your command", stopped="interrupted")
    report = Report(tool=TOOL, comparison=comparison)
    line = "interrupted, not paired: a suggested run (SIGINT, exit status 0, 2.00 s)"
    assert f"- {line}" in render_markdown(report)
    console = Console(width=120, record=True, color_system=None)
    render_text(report, console)
    assert line in console.export_text()
