"""The current settings and the suggested exports side by side (``--verify``, ``--compare``):
one renderer for the text report, one for Markdown, over the same rows."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lkdoctor.bench.pairs import spread, times
from lkdoctor.model import Comparison, ComparisonVerdict, Variant, VariantSummary

VERDICT_STYLE: dict[ComparisonVerdict, str] = {
    ComparisonVerdict.IMPROVED: "bold green",
    ComparisonVerdict.NO_GAIN: "bold yellow",
    ComparisonVerdict.WORSE: "bold red",
    ComparisonVerdict.INCONCLUSIVE: "bold yellow",
    ComparisonVerdict.NOTHING_TO_VERIFY: "dim",
}


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def rows(comparison: Comparison) -> list[tuple[str, str, str]]:
    """``(measure, current, suggested)`` rows; the variants' values are medians of their runs."""
    variants: dict[str, VariantSummary] = {v.variant: v for v in comparison.variants}
    pair = (variants.get(Variant.CURRENT), variants.get(Variant.SUGGESTED))

    def row(label: str, cell: Callable[[VariantSummary], str]) -> tuple[str, str, str]:
        current, suggested = ("-" if v is None else cell(v) for v in pair)
        return label, current, suggested

    return [
        row("threads planned", lambda v: _count(v.threads_planned)),
        row("threads seen", lambda v: _count(v.threads)),
        row("wall time", lambda v: _seconds(v.wall_seconds)),
        row("CPU time", lambda v: _seconds(v.cpu_seconds)),
        row("waiting for a CPU", lambda v: _share(v.wait_share)),
        row("runs", lambda v: str(v.runs)),
        row("exit status", lambda v: _count(v.exit_status)),
    ]


def settings_cell(summary: VariantSummary) -> str:
    """What a variant sets: the suggestion's exports and unsets; the current settings as set."""
    changes = [f"{name}={value}" for name, value in summary.env.items()]
    changes += [f"unset {name}" for name in summary.unset]
    return ", ".join(changes) if changes else "as set"


def ratio_cell(comparison: Comparison) -> str:
    """``1.8× (95% interval 1.6–2.0×, 3 pairs)``: the geometric mean ratio (current ÷
    suggested wall) and its interval."""
    if comparison.ratio is None:
        return "no pair finished"
    return f"{times(comparison.ratio)} ({spread(comparison)})"


def interrupted_lines(comparison: Comparison) -> list[str]:
    """One line per run a stopping signal reached: listed, never paired."""
    return [
        f"interrupted, not paired: a {run.variant} run ({run.interrupted_by}, exit status "
        f"{run.exit_status}, {_seconds(run.wall_seconds)})"
        for run in comparison.interrupted
    ]


def pair_rows(comparison: Comparison) -> list[tuple[str, str, str, str]]:
    """``(pair, current wall, suggested wall, ratio)`` per pair, in the order measured."""
    return [
        (
            str(index),
            _seconds(pair.current.wall_seconds),
            _seconds(pair.suggested.wall_seconds),
            times(pair.ratio),
        )
        for index, pair in enumerate(comparison.pairs, start=1)
    ]


def ratio_line(comparison: Comparison) -> str:
    """``with the suggestion: 1.8× faster (geometric mean; 95% interval 1.6–2.0×, 3 pairs)``,
    or why there is none."""
    if comparison.ratio is None:
        return "no pair finished"
    ratio = comparison.ratio
    how = f"{times(ratio)} faster" if ratio >= 1 else f"{times(1 / ratio)} slower"
    return f"with the suggestion: {how} (geometric mean; {spread(comparison)})"


def render_comparison(comparison: Comparison, label: str) -> RenderableType:
    """The side-by-side table, the ratio and the verdict; ``label`` names what was run."""
    verdict = Text.assemble(
        (f"{label}: ", "bold"),
        (comparison.verdict, VERDICT_STYLE.get(comparison.verdict, "bold")),
    )
    if comparison.reason:
        verdict.append(f": {comparison.reason}")
    if comparison.verdict == ComparisonVerdict.NOTHING_TO_VERIFY:
        return verdict
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("", justify="left")
    table.add_column("current", justify="right")
    table.add_column("suggested", justify="right")
    for measure in rows(comparison):
        table.add_row(*measure)
    parts: list[RenderableType] = [table, Text(ratio_line(comparison))]
    parts += [Text(line) for line in interrupted_lines(comparison)]
    parts.append(verdict)
    if comparison.command:
        parts.insert(0, Text(f"command: {' '.join(comparison.command)}", style="dim"))
    return Group(*parts)
