"""Text rendering of an observed run: totals, a sparkline of runnable threads, one row per process."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lkdoctor.model import Observed, TimelinePoint
from lkdoctor.report import Report

BARS = "▁▂▃▄▅▆▇█"

#: The sparkline's width in characters; longer runs are averaged into this many columns.
SPARK_WIDTH = 60


def resample(timeline: list[TimelinePoint], width: int = SPARK_WIDTH) -> list[float]:
    """Runnable threads in ``width`` equal slices of time (each slice's time-weighted mean)."""
    if not timeline:
        return []
    if len(timeline) <= width:
        return [point.runnable for point in timeline]
    end = timeline[-1].at
    start = timeline[0].at - timeline[0].seconds
    step = (end - start) / width
    sums = [0.0] * width
    weights = [0.0] * width
    for point in timeline:
        slot = min(width - 1, max(0, int((point.at - point.seconds / 2 - start) / step)))
        sums[slot] += point.runnable * point.seconds
        weights[slot] += point.seconds
    values = [s / w if w else 0.0 for s, w in zip(sums, weights, strict=True)]
    return values


def sparkline(values: list[float], cpus: int | None) -> Text:
    """One bar per value, scaled to the peak; bars above the CPUs are marked."""
    text = Text()
    top = max([*values, float(cpus or 0), 1e-9])
    for value in values:
        bar = BARS[min(len(BARS) - 1, int(value / top * (len(BARS) - 1) + 0.5))]
        over = cpus is not None and value > cpus
        text.append(bar, style="yellow" if over else "green")
    return text


def totals_line(observed: Observed) -> str:
    """Where the run's CPU time comes from: its own cgroup (every process) or the samples."""
    totals = observed.totals
    if totals is None:
        return "sampled only (processes between two samples are missing)"
    if totals.source == "sampled":
        return f"sampled only: {totals.reason}"
    throttled = (
        "no throttling counter"
        if totals.throttled_seconds is None
        else f"throttled {totals.throttled_seconds:.2f} s"
    )
    return (
        f"{totals.cpu_seconds:.2f} s CPU counted by its own cgroup (every process, the "
        f"short-lived too); {throttled}"
    )


def _totals(observed: Observed) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    cpus = "?" if observed.cpus is None else str(observed.cpus)
    if observed.command is not None:
        grid.add_row("command", " ".join(observed.command))
        grid.add_row("exit status", str(observed.exit_status))
        grid.add_row("wall time", f"{observed.seconds:.2f} s")
    else:
        what = "its process tree" if observed.tree else "the process alone"
        grid.add_row("root", f"pid {observed.root_pid}, {what}, {observed.seconds:.1f} s")
    grid.add_row(
        "CPU time",
        f"{observed.cpu_seconds:.2f} s ({observed.avg_running:.2f} CPUs of {cpus} on average)",
    )
    grid.add_row("totals", totals_line(observed))
    grid.add_row(
        "waiting",
        f"{observed.wait_seconds:.2f} thread-seconds waiting for a CPU "
        f"({observed.wait_share:.0%} of runnable time)",
    )
    over = Text(
        f"{observed.avg_runnable:.1f} on average, peak {observed.peak_runnable:.1f}; "
        f"> {cpus} CPUs {observed.oversubscribed_share:.0%} of the time"
    )
    grid.add_row("runnable", over)
    values = resample(observed.timeline)
    if values:
        grid.add_row("timeline", sparkline(values, observed.cpus))
    grid.add_row(
        "processes", f"{len(observed.processes)} seen, at most {observed.peak_processes} at once"
    )
    if observed.command is not None:  # --pid plans with the process's own environment
        grid.add_row("plan from", plan_environ_line(observed))
    return grid


def plan_environ_line(observed: Observed) -> str:
    """Whose threading variables the plan was resolved with."""
    if observed.plan_environ_pid is None:
        return "the doctor's environment"
    return f"the variables of pid {observed.plan_environ_pid}, the process that ran LensKit"


def _process_table(observed: Observed, full: bool) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("pid", "ppid", "lvl", "name", "thr", "running", "waiting", "plan", "libraries"):
        left = column in ("name", "libraries")
        table.add_column(column, justify="left" if left else "right", no_wrap=not left)
    rows = observed.processes
    if not full:
        rows = sorted(rows, key=lambda r: -r.avg_runnable)[:20]
    for row in rows:
        over = row.planned_threads is not None and row.avg_runnable > row.planned_threads
        plan = "-" if row.planned_threads is None else str(row.planned_threads)
        table.add_row(
            str(row.pid),
            str(row.ppid),
            "h" if row.helper else "w" if row.wrapper else str(row.level),
            row.name + (" †" if row.exited else ""),
            str(row.threads),
            f"{row.avg_running:.2f}",
            f"{row.avg_waiting:.2f}",
            Text(plan, style="yellow" if over else ""),
            ", ".join(row.libraries),
            style="dim" if row.avg_runnable < 0.05 else "",
        )
    return table


def render_observed(report: Report, full: bool = False) -> RenderableType | None:
    observed = report.observed
    if observed is None:
        return None
    parts: list[RenderableType] = [_totals(observed), Text(), _process_table(observed, full)]
    hidden = len(observed.processes) - 20
    if not full and hidden > 0:
        parts.append(Text(f"{hidden} quieter process(es) not shown (--full shows all)", "dim"))
    if any(row.exited for row in observed.processes):
        parts.append(Text("† exited during the window", style="dim"))
    if full:
        for row in observed.processes:
            env = " ".join(f"{k}={v}" for k, v in row.env.items())
            parts.append(Text(f"  {row.pid}: {row.command}  {env}", style="dim"))
    return Group(*parts)
