"""The renderers format what the checks concluded, with one vocabulary for every format."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from rich.console import Console
from samples import SAMPLES

from lkdoctor.checks import analyse
from lkdoctor.model import ClusterSummary, CpuBudget, CpuLimit, ToolInfo
from lkdoctor.plan.lenskit2025.resolve import collect_plan
from lkdoctor.render import SECTION_TITLES, export_lines, section_status
from lkdoctor.render.markdown import render_markdown
from lkdoctor.render.text import render_plan, render_text
from lkdoctor.report import ClusterNode, ClusterReport, Report

TOOL = ToolInfo(version="test", python="3", platform="test")


def text_of(report: Report) -> str:
    console = Console(file=StringIO(), width=100, color_system=None)
    render_text(report, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_text_and_markdown_head_each_section_alike(name: str) -> None:
    report = SAMPLES[name]()
    text, markdown = text_of(report), render_markdown(report)
    marks = {"ok": "✓", "warning": "!", "error": "✗"}
    for section, title in SECTION_TITLES.items():
        mark = marks[section_status(report, section)]
        in_markdown = f"<summary>{mark} {title}</summary>" in markdown
        in_text = re.search(rf"^{re.escape(mark)} {re.escape(title)}$", text, re.M) is not None
        assert in_markdown == in_text, (section, mark)


def test_both_formats_print_the_same_export_lines() -> None:
    report = SAMPLES["oversubscribed"]()
    assert report.plan is not None and report.plan.suggested_env
    lines = export_lines(report.plan.suggested_env)
    text, markdown = text_of(report), render_markdown(report)
    for line in lines:
        assert line in text and line in markdown


def plan_text(lenskit_counts: list[tuple[int, int, int]] | None) -> tuple[str, list[str]]:
    """The plan section's text and the plan findings, with LensKit's own answer as given."""
    plan = collect_plan(8, 8, {"LK_NUM_PROCS": "2"}, ask_lenskit=False)
    if lenskit_counts is not None:
        plan.lenskit_version = "2025.8.1"
        resolved = [level.model_copy() for level in plan.levels]
        for level, (processes, threads, backend) in zip(resolved, lenskit_counts, strict=True):
            level.processes, level.threads, level.backend_threads = processes, threads, backend
        plan.lenskit_resolved = resolved
    report = Report(tool=TOOL, plan=plan)
    analyse(report)
    console = Console(file=StringIO(), width=100, color_system=None)
    body = render_plan(report)
    assert body is not None
    console.print(body)
    return console.file.getvalue(), [f.id for f in report.findings]  # type: ignore[attr-defined]


def test_the_text_says_lenskit_differs_exactly_when_the_check_finds_it() -> None:
    documented = collect_plan(8, 8, {"LK_NUM_PROCS": "2"}, ask_lenskit=False)
    same = [level.shape for level in documented.levels]
    text, ids = plan_text(same)
    assert "own code resolves the same plan" in text and "lenskit-divergence" not in ids
    differing = [(p, t + 1, b) for p, t, b in same]
    text, ids = plan_text(differing)
    assert "own code resolves instead:" in text and "lenskit-divergence" in ids
    text, ids = plan_text(None)
    assert "LensKit is not installed" in text and "lenskit-divergence" not in ids


def cluster_report(ray_cpus: float, budget: int) -> Report:
    limit = CpuLimit(source="affinity", value=budget, detail="test", binding=True)
    cpu = CpuBudget(
        logical=budget, physical=None, effective=budget, lenskit_effective=budget, limits=[limit]
    )
    node = ClusterNode(
        node_id="ab" * 28,
        ip="10.0.0.7",
        is_head=True,
        ray_cpus=ray_cpus,
        status="ok",
        report=Report(tool=TOOL, cpu=cpu),
    )
    summary = ClusterSummary(
        nodes_alive=1,
        nodes_reported=1,
        ray_cpus=ray_cpus,
        effective_cpus=budget,
        timeout_seconds=5,
    )
    report = Report(tool=TOOL)
    report.cluster = ClusterReport(address="10.0.0.7:6379", nodes=[node], summary=summary)
    analyse(report)
    return report


@pytest.mark.parametrize(("ray_cpus", "overcommitted"), [(4, False), (5, True)])
def test_a_node_is_marked_overcommitted_exactly_when_the_check_finds_it(
    ray_cpus: float, overcommitted: bool
) -> None:
    report = cluster_report(ray_cpus, budget=4)
    found = [f for f in report.findings if f.id == "ray-cpu-overcommit"]
    assert bool(found) == overcommitted
    (row,) = [line for line in text_of(report).splitlines() if line.startswith("abababab")]
    assert ("✗" in row) == overcommitted
    # every message names the node alike
    for finding in found:
        assert "abababab (10.0.0.7, head)" in finding.title
