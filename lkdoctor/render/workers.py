"""The "Batch workers" section in text (Rich) and Markdown: the same facts, two formats."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lkdoctor.model import BatchMode, ScriptCheck, Workers
from lkdoctor.report import Report

MODE_WORDS = {
    BatchMode.PROCESS_POOL: "a process pool (worker processes)",
    BatchMode.IN_PROCESS: "this process (no workers)",
    BatchMode.THREAD_POOL: "a thread pool of this process",
    BatchMode.RAY: "Ray tasks",
    BatchMode.UNKNOWN: "unknown (no LensKit line resolved)",
}


def mode_line(workers: Workers) -> str:
    """One sentence: how batch work runs, under which LensKit."""
    who = f"LensKit {workers.lenskit_version}" if workers.lenskit_version else "LensKit"
    return f"{who} runs batch work in {MODE_WORDS[workers.mode]}"


def script_line(check: ScriptCheck) -> str:
    """One line per checked script: its path and what the check found."""
    words = {
        "protected": "protected (process work only under the __main__ guard)",
        "unprotected": f"UNPROTECTED ({len(check.unguarded)} module-level call(s))",
        "no-process-work": "starts no processes",
        "not-checked": "not checked",
        "inline": "safe",
    }[check.status]
    shown = check.detail and check.status in ("not-checked", "inline", "no-process-work")
    detail = f": {check.detail}" if shown else ""
    return f"{check.path} ({check.found_by}): {words}{detail}"


def render_workers(report: Report, full: bool = False) -> RenderableType | None:
    workers = report.workers
    if workers is None:
        return None
    parts: list[RenderableType] = [Text(mode_line(workers), style="bold")]
    if workers.mode_source:
        parts.append(Text(f"  from {workers.mode_source}", style="dim"))
    if workers.levels:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("level", "runs in", "workers", "start method", "count from"):
            table.add_column(column, overflow="fold")
        for level in workers.levels:
            table.add_row(
                str(level.level),
                str(level.mode),
                str(level.workers),
                level.start_method or "-",
                level.source,
            )
        parts.append(table)
    methods = Table(box=None, pad_edge=False, show_edge=False, show_header=False)
    methods.add_column("part", style="bold", no_wrap=True)
    methods.add_column("method", no_wrap=True)
    methods.add_column("source", overflow="fold", style="dim")
    for method in workers.start_methods:
        methods.add_row(method.part, method.method, method.source)
    parts.append(methods)
    parts.extend(Text(f"· {note}") for note in workers.notes)
    parts.extend(
        Text(f"script {script_line(check)}")
        for check in workers.scripts
        if full or check.status != "inline"  # inline code is safe: said only in full
    )
    for process in workers.processes:
        rerun = " re-runs the script" if process.reruns_script else ""
        parts.append(Text(f"worker {process.pid} ({process.kind}, {process.start_method}){rerun}"))
    for death in workers.deaths:
        who = f"{death.who} {death.pid}" if death.pid is not None else death.who
        parts.append(Text(f"{who} killed by {death.signal}: {death.cause}", style="bold red"))
    return Group(*parts)
