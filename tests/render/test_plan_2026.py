"""How a plan in LensKit 2026's dialect reads: the dialect, each setting's source, batch work."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from lkdoctor.model import ToolInfo
from lkdoctor.plan.lenskit2026.resolve import collect_plan_2026
from lkdoctor.plan.lines import ChosenDialect, dialect_named
from lkdoctor.render.markdown import render_markdown
from lkdoctor.render.text import render_plan
from lkdoctor.report import Report


def _report(tmp_path: Path) -> Report:
    (tmp_path / "lenskit.toml").write_text("[parallel]\n\nnum_threads = 6\n")
    plan = collect_plan_2026(
        4,
        4,
        {"LK_NUM_BATCH_JOBS": "3"},
        ChosenDialect(dialect_named("2026"), "2026.4.0", "LensKit 2026.4.0 is installed"),
        cwd=tmp_path,
        ask=False,
    )
    return Report(tool=ToolInfo(version="test", python="3", platform="test"), plan=plan)


def test_text_names_the_dialect_sources_and_batch_work(tmp_path: Path) -> None:
    console = Console(width=200, record=True, color_system=None)
    body = render_plan(_report(tmp_path))
    assert body is not None
    console.print(body)
    text = console.export_text()
    assert "dialect 2026: LensKit 2026.4.0 is installed" in text
    assert f"num_threads = 6  from {tmp_path / 'lenskit.toml'}:3" in text
    assert "num_batch_jobs = 3  from LK_NUM_BATCH_JOBS" in text
    assert "batch work: thread pool of 3 batch jobs" in text
    assert "export LK_PARALLEL__NUM_THREADS=" in text


def test_markdown_has_the_settings_table(tmp_path: Path) -> None:
    text = render_markdown(_report(tmp_path))
    assert "Dialect 2026: LensKit 2026.4.0 is installed" in text
    assert f"| num_threads | 6 | {tmp_path / 'lenskit.toml'}:3 |" in text
    assert "Batch work: thread pool" in text
