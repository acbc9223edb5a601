"""Rich text rendering of a report, readable at 80 columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from lkdoctor.checks.cluster import ray_overcommits
from lkdoctor.checks.cpu import lenskit_overcounts
from lkdoctor.model import (
    Bench,
    CpuBudget,
    ErrorEntry,
    Finding,
    PlanBase,
    PlanLevel,
    Pools,
    SearchPaths,
    Section,
    Severity,
    ThreadsSnapshot,
    Verdict,
)
from lkdoctor.plan.checks import overflows
from lkdoctor.plan.lines import line_of
from lkdoctor.plan.view import DetailRow, OwnAnswer
from lkdoctor.pools.kinds import pool_sizes
from lkdoctor.render import (
    FINDING_MARK,
    SECTION_TITLES,
    STATUS_MARK,
    Status,
    compute_facts,
    export_lines,
    status,
    summary_text,
)
from lkdoctor.render.comparison import render_comparison
from lkdoctor.render.observed import render_observed
from lkdoctor.render.workers import render_workers
from lkdoctor.report import ClusterNode, Report

SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.ERROR: "bold red"}
STATUS_STYLE: dict[Status, str] = {"ok": "green", "warning": "yellow", "error": "bold red"}


def _heading(title: str, findings: list[Finding], failed: bool = False) -> Text:
    """✓ / ! / ✗ and the title: the worst finding of the section, ✗ if it failed."""
    worst = status(findings, failed)
    heading = Text()
    heading.append(f"{STATUS_MARK[worst]} ", style=STATUS_STYLE[worst])
    heading.append(title, style="bold")
    return heading


def _section_findings(report: Report, section: Section) -> list[Finding]:
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


def render_cpu(report: Report, full: bool = False) -> RenderableType | None:
    cpu = report.cpu
    if cpu is None:
        return None
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("source", no_wrap=True)
    table.add_column("CPUs", justify="right", no_wrap=True)
    table.add_column("from", overflow="fold")
    unset = [limit.source for limit in cpu.limits if limit.value is None]
    for limit in cpu.limits:
        if limit.value is None and not full:
            continue  # listed by name below; --full shows each with where it was looked for
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
    if lenskit_overcounts(cpu):
        summary.append("  (more than available)", style="yellow")
    parts: list[RenderableType] = [table, summary]
    if unset and not full:
        parts.append(Text(f"no limit from: {', '.join(unset)}", style="dim"))
    return Group(*parts, *_cgroup_lines(cpu))


def _plan_table(levels: list[PlanLevel], effective: int) -> Table:
    """One row per level: level | processes | threads | backend | demand."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("level", "processes", "threads", "backend", "demand"):
        table.add_column(column, justify="right")
    for level in levels:
        backend = str(level.backend_threads)
        counted = level.counted_backend_threads
        if counted is not None and counted != level.backend_threads:
            backend += f" ({counted} counted)"
        overflow = overflows(level, effective)
        table.add_row(
            str(level.level),
            str(level.processes),
            str(level.threads),
            backend,
            Text(str(level.demand), style="bold red" if overflow else ""),
        )
    return table


def _not_read(plan: PlanBase) -> list[RenderableType]:
    """Why LensKit's own answer is missing."""
    if plan.lenskit_note:
        return [Text(f"LensKit's own plan: not read ({plan.lenskit_note})", style="dim")]
    return [Text("LensKit is not installed: the documented rule is shown", style="dim")]


def _row_line(row: DetailRow) -> Text:
    """``  name = value  from source (how)``."""
    source = f"  from {row.source}" if row.source else ""
    how = f" ({row.how})" if row.how else ""
    return Text(f"  {row.label} = {row.value}{source}{how}")


def _answer_lines(plan: PlanBase, answer: OwnAnswer | None) -> list[RenderableType]:
    """Whether LensKit's own code resolves what the model does, and what it resolves if not."""
    if answer is None:
        return _not_read(plan)
    own = f"LensKit {answer.version}'s own code resolves"
    if answer.agrees:
        return [Text(f"{own} the same {answer.noun}", style="dim")]
    if answer.levels is not None:
        return [Text(f"{own} instead:", style="bold"), _plan_table(answer.levels, plan.effective)]
    shown = ", ".join(f"{row.label}={row.value}" for row in answer.differing)
    return [Text(f"{own} {shown}", style="bold")]


def _dialect_lines(plan: PlanBase) -> list[RenderableType]:
    """The dialect and why."""
    if plan.dialect_reason:
        return [Text(f"dialect {plan.dialect}: {plan.dialect_reason}", style="dim")]
    return []


def render_plan(report: Report, full: bool = False) -> RenderableType | None:
    plan = report.plan
    if plan is None:
        return None
    summary = Text(
        f"peak {plan.peak_threads} threads on {plan.effective} CPUs "
        f"(oversubscription {plan.oversubscription:.2f}); LensKit resolves with "
        f"{plan.cpu_count} CPUs"
    )
    details = line_of(plan).details(plan)
    parts: list[RenderableType] = [
        *_dialect_lines(plan),
        *(_row_line(row) for row in details.rows),
        *(Text(f"{fact.label}: {fact.value}") for fact in details.facts),
        _plan_table(plan.levels, plan.effective),
        summary,
    ]
    parts.extend(_answer_lines(plan, details.answer))
    if plan.suggested_env:
        label = (
            "this plan fits; to pin it:"
            if plan.suggestion_fits_as_is
            else f"suggested (fits {plan.effective} CPUs):"
        )
        parts.append(Text(label, style="bold"))
        parts.extend(Text(f"  {line}") for line in export_lines(plan.suggested_env))
        parts.extend(Text(f"  unset {name}") for name in plan.suggested_unset)
    return Group(*parts)


def _fits(threads: int | None, cpus: int | None) -> Text:
    if threads is None or cpus is None:
        return Text("")
    if threads > cpus:
        return Text(f"✗ > {cpus} CPUs", style="yellow")
    return Text("✓", style="green")


def _threads_line(threads: ThreadsSnapshot, label: str) -> Text:
    states = ", ".join(f"{n} {state}" for state, n in threads.states.items())
    return Text.assemble(
        (f"{label}: ", "bold"),
        f"{threads.count} thread{'s' if threads.count != 1 else ''} ({states}), {threads.cpu_seconds:g} s CPU",
    )


def _apply_lines(pools: Pools) -> list[RenderableType]:
    marks = {"applied": ("✓", "green"), "skipped": ("-", "dim"), "failed": ("✗", "yellow")}
    lines: list[RenderableType] = [
        Text("applied level 0 as LensKit's initialize() does:", style="bold")
    ]
    for step in pools.apply_steps:
        mark, style = marks[step.status]
        lines.append(Text.assemble((f"  {mark} ", style), step.action))
        if step.detail:
            lines.append(Padding(Text(step.detail, style="dim"), (0, 0, 0, 4)))
    return lines


def render_pools(report: Report, full: bool = False) -> RenderableType | None:
    """Who has how many threads, and whether that fits the CPUs."""
    pools = report.pools
    if pools is None:
        return None
    cpus = report.cpu.effective if report.cpu is not None else None
    parts: list[RenderableType] = []
    if pools.applied:
        parts.extend(_apply_lines(pools))
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("pool", no_wrap=True)
    table.add_column("threads", justify="right", no_wrap=True)
    table.add_column(f"fits {cpus if cpus is not None else '?'} CPUs", no_wrap=True)
    table.add_column("", style="dim", overflow="fold")
    for pool in pool_sizes(pools):
        threads = pool.threads
        table.add_row(
            pool.label, "-" if threads is None else str(threads), _fits(threads, cpus), pool.note
        )
    parts.append(table)
    if full:  # every field threadpoolctl reports, as LensKit's doctor lists its backends
        for number, entry in enumerate(pools.blas, 1):
            fields = ", ".join(f"{key}: {value}" for key, value in entry.items())
            line = Text(f"backend {number}: {fields}", style="dim")
            parts.append(Padding(line, (0, 0, 0, 2), expand=False))
    if pools.threads is not None:
        parts.append(_threads_line(pools.threads, "this process"))
        if full:
            parts.extend(
                Text(f"  {t.tid:>7} {t.name:<16} {t.state} {t.cpu_seconds:g} s", style="dim")
                for t in pools.threads.threads
            )
    return Group(*parts)


BENCH_VERDICT_STYLE: dict[Verdict, str] = {
    Verdict.OK: "bold green",
    Verdict.OVERSUBSCRIBED: "bold red",
    Verdict.CONTENDED: "bold yellow",
    Verdict.UNDERSUBSCRIBED: "bold cyan",
    Verdict.INCONCLUSIVE: "bold yellow",
    Verdict.SKIPPED: "dim",
}


def _bench_table(bench: Bench) -> Table:
    """One line per measured shape: threads, speedup, efficiency, wait share."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column, justify in (
        ("run", "left"),
        ("threads", "right"),
        ("speedup", "right"),
        ("efficiency", "right"),
        ("wait", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for run in bench.runs:
        threads = str(run.rayon_threads) if run.rayon_threads else ""
        if run.torch_threads:
            threads += f"{'+' if threads else ''}{run.torch_threads} torch"
        wait = "-" if run.wait_share is None else f"{run.wait_share:.0%}"
        table.add_row(
            run.name + (" (cancelled)" if run.overran else ""),
            threads,
            "-" if run.speedup is None else f"{run.speedup:.2f}×",
            "-" if run.efficiency is None else f"{run.efficiency:.0%}",
            Text(wait, style="bold red" if (run.wait_share or 0) >= 0.5 else ""),
        )
    return table


def render_bench(report: Report, full: bool = False) -> RenderableType | None:
    """The measured runs, then the verdict in words; with ``full`` the evidence too."""
    bench = report.bench
    verdict = Text.assemble(
        ("verdict ", "bold"), (bench.verdict, BENCH_VERDICT_STYLE.get(bench.verdict, "bold"))
    )
    if bench.reason:
        verdict.append(f": {bench.reason}")
    parts: list[RenderableType] = []
    if bench.runs:
        parts.append(_bench_table(bench))
    parts.append(verdict)
    if full:
        parts.extend(Text(f"  {line}", style="dim") for line in bench.evidence)
    if bench.elapsed_seconds is not None and bench.budget_seconds is not None:
        parts.append(
            Text(
                f"measured in {bench.elapsed_seconds:.2f} s of a {bench.budget_seconds:g} s budget",
                style="dim",
            )
        )
    if bench.verification is not None:
        parts += [Text(), render_comparison(bench.verification, "suggestion verified")]
    return Group(*parts)


def render_compared(report: Report, full: bool = False) -> RenderableType | None:
    """``--compare``: the command under both variants."""
    if report.comparison is None:
        return None
    return render_comparison(report.comparison, "verdict")


def render_environment(report: Report, full: bool = False) -> RenderableType | None:
    """Versions, the threading variables (Python's own too with ``full``), paths, packages."""
    from lkdoctor.environment.info import is_threading_variable

    env = report.environment
    if env is None:
        return None
    parts: list[RenderableType] = []
    if env.processor:
        parts.append(Text.assemble(("processor ", "bold"), env.processor))
    capability = report.pools.torch.cpu_capability if report.pools and report.pools.torch else None
    for label, value in compute_facts(env.python, env.compute, capability):
        parts.append(Text.assemble((f"{label} ", "bold"), value))
    if env.versions:
        parts.append(Text(", ".join(f"{name} {v}" for name, v in env.versions.items())))
    shown = {k: v for k, v in env.variables.items() if full or is_threading_variable(k)}
    if shown:
        table = Table(box=None, pad_edge=False, show_edge=False, show_header=False)
        table.add_column("variable", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for name, value in shown.items():
            table.add_row(name, value)
        parts.append(table)
    else:
        parts.append(Text("no threading variables set", style="dim"))
    if env.paths is not None:
        parts.extend(_path_lines(env.paths))
    if env.packages is not None:
        parts.append(Text(f"installed packages ({len(env.packages)}):", style="bold"))
        parts.append(_columns([f"{p.name} {p.version}" for p in env.packages]))
    if env.redacted:
        parts.append(Text("user name, host name and home folder redacted", style="dim"))
    return Group(*parts)


def _path_lines(paths: SearchPaths) -> list[RenderableType]:
    lines: list[RenderableType] = [
        Text.assemble(("executable ", "bold"), paths.executable),
        Text.assemble(("prefix ", "bold"), paths.prefix),
        Text.assemble(("working directory ", "bold"), paths.cwd),
        Text("Python search path:", style="bold"),
    ]
    lines.extend(
        Padding(Text(entry or "''"), (0, 0, 0, 2), expand=False) for entry in paths.sys_path
    )
    lines.append(Text("PATH:", style="bold"))
    lines.extend(Padding(Text(entry), (0, 0, 0, 2), expand=False) for entry in paths.path)
    return lines


def _node_row(node: ClusterNode) -> list[RenderableType]:
    """node | ip | Ray CPUs | budget | LensKit | peak | answer."""
    report = node.report
    cpu = report.cpu if report else None
    plan = report.plan if report else None
    over = ray_overcommits(node)
    ray_cpus = "-" if node.ray_cpus is None else f"{node.ray_cpus:g}"
    answer = node.status if node.seconds is None else f"{node.status} {node.seconds:.1f} s"
    return [
        node.short_id + (" head" if node.is_head else ""),
        node.ip,
        Text(ray_cpus + (" ✗" if over else ""), style="bold red" if over else ""),
        "-" if cpu is None else str(cpu.effective),
        "-" if cpu is None else str(cpu.lenskit_effective),
        "-" if plan is None else str(plan.peak_threads),
        Text(answer, style="green" if node.status == "ok" else "bold red"),
    ]


def render_cluster(report: Report, full: bool = False) -> RenderableType | None:
    """``--ray``: one row per node, then each node's own findings."""
    cluster = report.cluster
    if cluster is None:
        return None
    summary = cluster.summary
    parts: list[RenderableType] = [
        Text(
            f"{cluster.address}, Ray {cluster.ray_version or '?'}: {summary.nodes_reported} of "
            f"{summary.nodes_alive} nodes answered (within {summary.timeout_seconds:g} s)"
        )
    ]
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("node", "ip", "Ray CPUs", "budget", "LensKit", "peak", "answer"):
        table.add_column(column, justify="left" if column in ("node", "ip") else "right")
    for node in cluster.nodes:
        table.add_row(*_node_row(node))
    parts.append(table)
    parts.append(
        Text(
            f"Ray CPUs {summary.ray_cpus:g} in all, effective budgets {summary.effective_cpus}",
            style="dim",
        )
    )
    for node in cluster.nodes:
        if node.report is None or not node.report.findings:
            continue
        parts.append(Text(f"node {node.label}:", style="bold"))
        parts.extend(_finding_block(f, full) for f in node.report.findings)
    return Group(*parts)


def _columns(items: list[str]) -> RenderableType:
    from rich.columns import Columns

    return Padding(Columns(items, padding=(0, 2)), (0, 0, 0, 2), expand=False)


def _finding_block(finding: Finding, full: bool) -> RenderableType:
    """One finding: title, then (unless a quiet info note) evidence, remedy and exports."""
    style = SEVERITY_STYLE[finding.severity]
    title = Text.assemble(
        (f"{FINDING_MARK[finding.severity]} ", style),
        (finding.title, "bold"),
        (f"  [{finding.id}]", "dim"),
    )
    if finding.severity == Severity.INFO and not full:
        return _indent(title, 2)
    lines: list[RenderableType] = [title]
    if finding.evidence:
        lines.append(_indent(Text(finding.evidence, style="dim"), 2))
    if finding.remediation:
        lines.append(_indent(Text(f"→ {finding.remediation}"), 2))
    lines.extend(_indent(Text(line), 4) for line in export_lines(finding.env))
    return _indent(Group(*lines), 2)


def _indent(renderable: RenderableType, columns: int) -> Padding:
    """Indented; wrapped lines keep the indent (and no trailing padding to the width)."""
    return Padding(renderable, (0, 0, 0, columns), expand=False)


def _error_line(error: ErrorEntry) -> RenderableType:
    line = Text.assemble(
        (f"{STATUS_MARK['error']} could not collect: ", STATUS_STYLE["error"]), error.message
    )
    return _indent(line, 2)


@dataclass(frozen=True)
class SectionView:
    """A report section: its heading, and the body its owner renders (None: absent)."""

    id: Section  # the `section` of the findings and errors[] entries it gathers
    title: str
    body: Callable[[Report, bool], RenderableType | None]


BODIES: dict[Section, Callable[[Report, bool], RenderableType | None]] = {
    Section.CPU: render_cpu,
    Section.PLAN: render_plan,
    Section.POOLS: render_pools,
    Section.OBSERVED: render_observed,
    Section.WORKERS: render_workers,
    Section.BENCH: render_bench,
    Section.ENVIRONMENT: render_environment,
    Section.CLUSTER: render_cluster,
    Section.COMPARISON: render_compared,
}

# In report order; a finding or error whose section is not here is shown under "Other".
SECTIONS: tuple[SectionView, ...] = tuple(
    SectionView(section, title, BODIES[section]) for section, title in SECTION_TITLES.items()
)


def render_section(
    report: Report, section: SectionView, full: bool = False
) -> RenderableType | None:
    """Heading (✓ / ! / ✗), the body, then the section's findings and failures."""
    findings = _section_findings(report, section.id)
    errors = [e for e in report.errors if e.section == section.id]
    body = section.body(report, full)
    if body is None and not findings and not errors:
        return None
    parts: list[RenderableType] = [_heading(section.title, findings, failed=bool(errors))]
    if body is not None:
        parts.append(body)
    parts.extend(_error_line(e) for e in errors)
    if findings and body is not None:
        parts.append(Text())
    parts.extend(_finding_block(f, full) for f in findings)
    return Group(*parts)


def render_other(report: Report, full: bool = False) -> RenderableType | None:
    """Findings and failures of sections that have no place in the layout."""
    known = {s.id for s in SECTIONS}
    findings = [f for f in report.findings if f.section not in known]
    errors = [e for e in report.errors if e.section not in known]
    if not findings and not errors:
        return None
    parts: list[RenderableType] = [_heading("Other", findings, failed=bool(errors))]
    for error in errors:
        line = Text.assemble(
            (f"{STATUS_MARK['error']} could not collect {error.section}: ", STATUS_STYLE["error"]),
            error.message,
        )
        parts.append(_indent(line, 2))
    parts.extend(_finding_block(f, full) for f in findings)
    return Group(*parts)


def summary_line(report: Report) -> Text:
    """The last line: "2 warnings, 1 error" or "No issues found", coloured by the worst."""
    style = STATUS_STYLE[status(report.findings, failed=bool(report.errors))]
    return Text(summary_text(report), style=style)


def render_text(report: Report, console: Console, *, full: bool = False) -> None:
    """The whole report; ``full`` also shows what users rarely need."""
    tool = report.tool
    probe = f"probe {tool.probe_version}" if tool.probe_version else "probe missing"
    console.print(
        Text.assemble(
            ("lenskit doctor", "bold"),
            f"  lkdoctor {tool.version}, Python {tool.python}, {probe}",
        )
    )
    blocks = [render_section(report, section, full) for section in SECTIONS]
    blocks.append(render_other(report, full))
    for block in blocks:
        if block is not None:
            console.print()
            console.print(block)
    console.print()
    console.print(summary_line(report))
