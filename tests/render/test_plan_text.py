"""How the thread plan section reads as text."""

from __future__ import annotations

import re

from rich.console import Console

from lkdoctor.model import ToolInfo
from lkdoctor.plan.lenskit2025.resolve import collect_plan
from lkdoctor.render.text import render_plan
from lkdoctor.report import Report, ThreadPlan


def rendered(plan: ThreadPlan | None, width: int = 100) -> str:
    report = Report(tool=ToolInfo(version="test", python="3", platform="test"), plan=plan)
    console = Console(width=width, record=True, color_system=None)
    body = render_plan(report)
    assert body is not None
    console.print(body)
    return console.export_text()


def test_text_has_one_row_per_level_and_export_lines() -> None:
    plan = collect_plan(64, 2, {"LK_NUM_PROCS": "4,2"}, ask_lenskit=False)
    text = rendered(plan)
    assert re.search(r"level\s+processes\s+threads\s+backend\s+demand", text)
    rows = [
        line.split() for line in text.splitlines() if re.match(r"\s*\d+\s+\d+\s+\d+\s+\d+", line)
    ]
    assert rows == [
        [str(lv.level), str(lv.processes), str(lv.threads), str(lv.backend_threads), str(lv.demand)]
        for lv in plan.levels
    ]
    assert "export LK_NUM_PROCS=2,1" in text
    assert "suggested (fits 2 CPUs):" in text


def test_text_shows_counted_backend_threads() -> None:
    text = rendered(collect_plan(64, 64, {"OPENBLAS_NUM_THREADS": "16"}, ask_lenskit=False))
    assert "4 (16 counted)" in text


def test_text_says_when_the_plan_only_needs_pinning() -> None:
    text = rendered(collect_plan(64, 64, {}, ask_lenskit=False))
    assert "this plan fits; to pin it:" in text
