"""Rich text rendering of a report, readable at 80 columns."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from lkdoctor.model import CpuBudget, Finding, Report

SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red"}
SEVERITY_MARK = {"info": "i", "warning": "!", "error": "✗"}


def _heading(title: str, findings: list[Finding]) -> Text:
    worst = max(
        (f.severity for f in findings), key=["info", "warning", "error"].index, default=None
    )
    if worst in ("warning", "error"):
        mark, style = SEVERITY_MARK[worst], SEVERITY_STYLE[worst]
    else:
        mark, style = "✓", "green"
    heading = Text()
    heading.append(f"{mark} ", style=style)
    heading.append(title, style="bold")
    return heading


def _section_findings(report: Report, section: str) -> list[Finding]:
    return [f for f in report.findings if f.section == section]


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def _cpu_value(value: float | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:g}"


def _cgroup_lines(cpu: CpuBudget) -> list[Text]:
    """The cgroup the budget was read from, and its memory limit beside the host's."""
    lines: list[Text] = []
    info = cpu.cgroup
    host = _gib(cpu.host_memory_bytes) if cpu.host_memory_bytes else "unknown"
    if info is None:
        return [Text(f"memory: host {host}")]
    if info.version != "none":
        lines.append(Text(f"cgroup {info.version}, own group {info.path or '?'}", style="dim"))
    memory = Text("memory: ", style="bold")
    if info.memory_limit_bytes is not None:
        memory.append(f"cgroup limit {_gib(info.memory_limit_bytes)}", style="bold")
        memory.append(f" of {host} host ({info.memory_path})")
    else:
        memory.append(f"no cgroup limit, host {host}")
    lines.append(memory)
    lines.extend(Text(f"note: {note}", style="yellow") for note in info.notes)
    return lines


def render_cpu(report: Report) -> RenderableType | None:
    cpu = report.cpu
    if cpu is None:
        return None
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("source", no_wrap=True)
    table.add_column("CPUs", justify="right", no_wrap=True)
    table.add_column("from", overflow="fold")
    for limit in cpu.limits:
        style = "bold green" if limit.binding else ""
        if not limit.binding and (limit.value is None or not limit.limits):
            style = "dim"
        table.add_row(
            limit.source + (" ←" if limit.binding else ""),
            _cpu_value(limit.value),
            limit.detail,
            style=style,
        )
    summary = Text.assemble(
        ("effective ", "bold"),
        (str(cpu.effective), "bold green"),
        f"   LensKit would use {cpu.lenskit_effective}",
    )
    if cpu.lenskit_effective > cpu.effective:
        summary.append("  (more than available)", style="yellow")
    return Group(
        _heading("CPU budget", _section_findings(report, "cpu")),
        table,
        summary,
        *_cgroup_lines(cpu),
    )


def render_plan(report: Report) -> RenderableType | None:
    plan = report.plan
    if plan is None:
        return None
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("level", "processes", "threads", "backend", "demand"):
        table.add_column(column, justify="right")
    for level in plan.levels:
        overflow = level.demand > plan.effective
        table.add_row(
            str(level.level),
            str(level.processes),
            str(level.threads),
            str(level.backend_threads),
            Text(str(level.demand), style="bold red" if overflow else ""),
        )
    summary = Text(
        f"peak {plan.peak_threads} threads on {plan.effective} CPUs "
        f"(oversubscription {plan.oversubscription:.2f}); resolved with {plan.cpu_count} CPUs"
    )
    parts: list[RenderableType] = [
        _heading("Thread plan", _section_findings(report, "plan")),
        table,
        summary,
    ]
    if plan.suggested_env:
        parts.append(Text("suggested:", style="bold"))
        parts.extend(Text(f"  export {k}={v}") for k, v in plan.suggested_env.items())
    return Group(*parts)


def render_bench(report: Report) -> RenderableType | None:
    bench = report.bench
    line = Text.assemble(("verdict ", "bold"), bench.verdict)
    if bench.reason:
        line.append(f": {bench.reason}")
    return Group(_heading("Measured", _section_findings(report, "bench")), line)


def render_findings(report: Report) -> RenderableType | None:
    if not report.findings:
        return None
    parts: list[RenderableType] = [Text("Findings", style="bold")]
    for finding in report.findings:
        style = SEVERITY_STYLE[finding.severity]
        parts.append(
            Text.assemble(
                (f"{SEVERITY_MARK[finding.severity]} {finding.severity}", style),
                f" [{finding.id}] ",
                (finding.title, "bold"),
            )
        )
        parts.append(Text(f"    {finding.evidence}", style="dim"))
        if finding.remediation:
            parts.append(Text(f"    fix: {finding.remediation}"))
        parts.extend(Text(f"    export {k}={v}") for k, v in finding.env.items())
    return Group(*parts)


def render_errors(report: Report) -> RenderableType | None:
    if not report.errors:
        return None
    parts: list[RenderableType] = [Text("Could not collect", style="bold red")]
    parts.extend(Text(f"  {e.section}: {e.message}") for e in report.errors)
    return Group(*parts)


def summary_line(report: Report) -> Text:
    counts = {sev: sum(f.severity == sev for f in report.findings) for sev in ("error", "warning")}
    parts = [f"{n} {sev}{'s' if n != 1 else ''}" for sev, n in counts.items() if n]
    if not parts:
        return Text("No issues found", style="green")
    return Text(", ".join(parts), style=SEVERITY_STYLE["error" if counts["error"] else "warning"])


SECTIONS: tuple[Callable[[Report], RenderableType | None], ...] = (
    render_cpu,
    render_plan,
    render_bench,
    render_findings,
    render_errors,
)


def render_text(report: Report, console: Console) -> None:
    tool = report.tool
    probe = f"probe {tool.probe_version}" if tool.probe_version else "probe missing"
    console.print(
        Text.assemble(
            ("lenskit doctor", "bold"),
            f"  lkdoctor {tool.version}, Python {tool.python}, {probe}",
        )
    )
    for section in SECTIONS:
        renderable = section(report)
        if renderable is not None:
            console.print()
            console.print(renderable)
    console.print()
    console.print(summary_line(report))
