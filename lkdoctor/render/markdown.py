"""Markdown rendering for support tickets: heading, summary table, findings, details.

GitHub renders it as is: one ``<details>`` block per section keeps a long report short
in an issue while everything stays in it. Like every renderer it only formats: secrets
were masked on the model before it arrived here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lkdoctor.model import (
    SEVERITY_RANK,
    Comparison,
    ComparisonVerdict,
    Finding,
    PlanBase,
    PlanLevel,
    Section,
    Variant,
    VariantSummary,
)
from lkdoctor.plan.lines import line_of
from lkdoctor.plan.view import DetailRow, OwnAnswer, PlanDetails
from lkdoctor.render import (
    FINDING_MARK,
    SECTION_TITLES,
    STATUS_MARK,
    compute_facts,
    export_lines,
    section_status,
    section_title,
    summary_text,
)
from lkdoctor.render.comparison import interrupted_lines, pair_rows, ratio_cell, settings_cell
from lkdoctor.render.comparison import rows as comparison_rows
from lkdoctor.render.observed import plan_environ_line, resample, sparkline, totals_line
from lkdoctor.render.workers import all_memory_lines, mode_line, script_line
from lkdoctor.report import Report

#: The two variants of a comparison, in the columns' order.
VARIANTS = tuple(Variant)

#: Top-level keys that are not sections.
_NOT_SECTIONS = frozenset({"schema_version", "tool", "findings", "errors"})


def cell(value: object) -> str:
    """A value made safe for one Markdown table cell."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)
    return lines


def code_block(text: str, language: str = "") -> list[str]:
    fence = "````" if "```" in text else "```"
    return [f"{fence}{language}", text, fence]


def export_block(env: Mapping[str, str]) -> list[str]:
    return code_block("\n".join(export_lines(env)), "sh")


# One-line summaries for the summary table; a section without one shows its status only.
def _cpu_summary(report: Report) -> str:
    cpu = report.cpu
    if cpu is None:
        return ""
    return (
        f"{cpu.effective} effective of {cpu.logical} logical CPUs; "
        f"LensKit would use {cpu.lenskit_effective}"
    )


def _plan_summary(report: Report) -> str:
    plan = report.plan
    if plan is None:
        return ""
    return (
        f"peak {plan.peak_threads} threads on {plan.effective} CPUs "
        f"(oversubscription {plan.oversubscription:.2f})"
    )


def _pools_summary(report: Report) -> str:
    pools = report.pools
    if pools is None:
        return ""
    parts = []
    if pools.torch is not None:
        parts.append(f"torch {pools.torch.intra_op} intra-op / {pools.torch.inter_op} inter-op")
    if pools.blas:
        sizes = ", ".join(
            f"{p.get('internal_api', '?')} {p.get('num_threads', '?')}" for p in pools.blas
        )
        parts.append(f"BLAS/OpenMP {sizes}")
    if pools.rayon is not None:
        parts.append(f"Rayon default {pools.rayon.default_threads}")
    if pools.threads is not None:
        parts.append(f"{pools.threads.count} threads now")
    return "; ".join(parts)


def _bench_summary(report: Report) -> str:
    bench = report.bench
    summary = f"{bench.verdict}: {bench.reason}" if bench.reason else bench.verdict
    if bench.verification is not None:
        summary += f"; suggestion verified: {bench.verification.verdict}"
    return summary


def _comparison_summary(report: Report) -> str:
    comparison = report.comparison
    return "" if comparison is None else f"{comparison.verdict}: {comparison.reason}"


def comparison_markdown(comparison: Comparison, label: str) -> list[str]:
    """The current settings and the suggested exports side by side, as Markdown: the
    variants' medians, the ratio with its interval and the verdict, then every pair and
    every interrupted run."""
    lines = [f"**{label}: {comparison.verdict}**: {comparison.reason}", ""]
    if comparison.verdict == ComparisonVerdict.NOTHING_TO_VERIFY:
        return lines
    if comparison.command:
        lines += [f"command: `{' '.join(comparison.command)}`", ""]
    variants: dict[str, VariantSummary] = {v.variant: v for v in comparison.variants}
    settings = [
        "settings",
        *("-" if (v := variants.get(name)) is None else settings_cell(v) for name in VARIANTS),
    ]
    judged = [
        ("ratio (current ÷ suggested wall, geometric mean)", "", ratio_cell(comparison)),
        ("verdict", "", comparison.verdict),
    ]
    lines += table(("", *VARIANTS), [settings, *comparison_rows(comparison), *judged])
    if comparison.pairs:
        header = ("pair", "current wall", "suggested wall", "ratio")
        lines += ["", *table(header, pair_rows(comparison))]
    if comparison.interrupted:
        lines += ["", *(f"- {line}" for line in interrupted_lines(comparison))]
    return [*lines, ""]


def _comparison_details(report: Report) -> list[str]:
    return [] if report.comparison is None else comparison_markdown(report.comparison, "verdict")


def _bench_details(report: Report) -> list[str]:
    """The benchmark's data as any section's, then ``--verify``'s comparison as its table."""
    bench = report.bench
    lines = generic(bench.model_dump(mode="json", exclude={"verification"}))
    if bench.verification is not None:
        lines += ["", *comparison_markdown(bench.verification, "suggestion verified")]
    return lines


def _environment_summary(report: Report) -> str:
    env = report.environment
    if env is None:
        return ""
    lenskit = env.versions.get("lenskit")
    found = f"LensKit {lenskit}" if lenskit else "LensKit not installed"
    return f"{found}; {len(env.variables)} relevant variables set"


def _cluster_summary(report: Report) -> str:
    cluster = report.cluster
    if cluster is None:
        return ""
    summary = cluster.summary
    return (
        f"{summary.nodes_reported} of {summary.nodes_alive} nodes answered; Ray CPUs "
        f"{summary.ray_cpus:g}, effective budgets {summary.effective_cpus}"
    )


SUMMARIES: dict[Section, Callable[[Report], str]] = {
    Section.CPU: _cpu_summary,
    Section.PLAN: _plan_summary,
    Section.POOLS: _pools_summary,
    Section.BENCH: _bench_summary,
    Section.ENVIRONMENT: _environment_summary,
    Section.CLUSTER: _cluster_summary,
    Section.COMPARISON: _comparison_summary,
    Section.WORKERS: lambda report: mode_line(report.workers) if report.workers else "",
}


def render_findings(findings: list[Finding]) -> list[str]:
    if not findings:
        return ["No findings."]
    lines: list[str] = []
    ordered = sorted(findings, key=lambda f: -SEVERITY_RANK[f.severity])
    for finding in ordered:
        lines.append(f"### {FINDING_MARK[finding.severity]} {finding.title}")
        lines.append("")
        where = f", section {finding.section}" if finding.section else ""
        lines.append(f"`{finding.id}` ({finding.severity}{where})")
        lines.append("")
        if finding.evidence:
            lines.extend(["**Evidence:** " + finding.evidence, ""])
        if finding.remediation:
            lines.extend(["**Fix:** " + finding.remediation, ""])
        if finding.env:
            lines.extend([*export_block(finding.env), ""])
    return lines


# Section bodies: the CPU, plan and environment sections get tables of their own; any
# other section (and any added later) is rendered generically from its data.
def _cpu_details(report: Report) -> list[str]:
    cpu = report.cpu
    if cpu is None:
        return []
    rows = [
        (
            f"**{limit.source}**" if limit.binding else limit.source,
            "-" if limit.value is None else f"{limit.value:g}",
            limit.detail,
        )
        for limit in cpu.limits
    ]
    lines = table(("source", "CPUs", "from"), rows)
    lines += ["", f"Effective: **{cpu.effective}**; LensKit would use {cpu.lenskit_effective}."]
    rest = cpu.model_dump(mode="json", exclude={"limits", "effective", "lenskit_effective"})
    return [*lines, "", *generic(rest)]


_LEVELS_HEADER = ("level", "processes", "threads", "backend threads", "demand")


def _levels_table(levels: Iterable[PlanLevel]) -> list[str]:
    rows = [(lv.level, lv.processes, lv.threads, lv.backend_threads, lv.demand) for lv in levels]
    return table(_LEVELS_HEADER, rows)


def _rows_table(noun: str, rows: list[DetailRow]) -> list[str]:
    """The rows as a table: with their sources when any row has one."""
    if any(row.source for row in rows):
        cells = [(row.label, row.value, row.source, row.how) for row in rows]
        return table((noun, "value", "source", "how"), cells)
    return table((noun, "value"), [(row.label, row.value) for row in rows])


def _answer_head(answer: OwnAnswer) -> str:
    version = f" {answer.version}" if answer.version else ""
    return f"As the installed LensKit{version} resolves it:"


def _details_head(plan: PlanBase, details: PlanDetails) -> list[str]:
    """The dialect and why (when known), then what the line shows before the levels: its
    rows, its facts, its own code's settings, and what the levels are resolved by."""
    lines = [f"Dialect {plan.dialect}: {plan.dialect_reason}", ""] if plan.dialect_reason else []
    if details.rows:
        lines += [*_rows_table(details.noun, details.rows), ""]
    for fact in details.facts:
        lines += [f"{fact.label[:1].upper()}{fact.label[1:]}: {fact.value}.", ""]
    answer = details.answer
    if answer is not None and answer.levels is None:
        lines += [_answer_head(answer), "", *_rows_table(details.noun, answer.rows), ""]
    if details.basis:
        lines += [f"{details.basis}:", ""]
    return lines


def _details_tail(details: PlanDetails) -> list[str]:
    """The levels LensKit's own code resolves, under the model's."""
    answer = details.answer
    if answer is None or answer.levels is None:
        return []
    return ["", _answer_head(answer), "", *_levels_table(answer.levels)]


def _plan_details(report: Report) -> list[str]:
    plan = report.plan
    if plan is None:
        return []
    details = line_of(plan).details(plan)
    lines = [
        *_details_head(plan, details),
        *_levels_table(plan.levels),
        *_details_tail(details),
    ]
    lines += [
        "",
        f"Peak {plan.peak_threads} threads on {plan.effective} CPUs "
        f"(oversubscription {plan.oversubscription:.2f}).",
    ]
    if plan.inputs:
        lines += ["", "Inputs:", "", *table(("variable", "value"), plan.inputs.items())]
    if plan.suggested_env:
        lines += ["", "A plan that fits:", "", *export_block(plan.suggested_env)]
        if plan.suggested_unset:
            lines += code_block("\n".join(f"unset {n}" for n in plan.suggested_unset), "sh")
    return lines


def _environment_details(report: Report) -> list[str]:
    env = report.environment
    if env is None:
        return []
    lines: list[str] = []
    if env.variables:
        lines += table(("variable", "value"), env.variables.items())
    else:
        lines.append("No threading-relevant variables are set.")
    if env.versions:
        lines += ["", *table(("library", "version"), env.versions.items())]
    if env.processor:
        lines += ["", f"Processor: {env.processor}"]
    capability = report.pools.torch.cpu_capability if report.pools and report.pools.torch else None
    facts = compute_facts(env.python, env.compute, capability)
    if facts:
        lines += ["", *table(("fact", "value"), facts)]
    if env.paths is not None:
        paths = env.paths
        lines += ["", f"Executable: `{paths.executable}`", f"Prefix: `{paths.prefix}`", ""]
        lines += ["Python search path:", "", *code_block("\n".join(paths.sys_path))]
        lines += ["", "PATH:", "", *code_block("\n".join(paths.path))]
    if env.packages is not None:
        lines += ["", f"Installed packages ({len(env.packages)}):", ""]
        lines += table(("package", "version"), ((p.name, p.version) for p in env.packages))
    if env.redacted:
        lines += ["", "_User name, host name and home folder are redacted._"]
    return lines


def _cluster_details(report: Report) -> list[str]:
    """``--ray``: one row per node, then each node's findings (its full report is in JSON)."""
    cluster = report.cluster
    if cluster is None:
        return []
    rows = []
    for node in cluster.nodes:
        cpu = node.report.cpu if node.report else None
        plan = node.report.plan if node.report else None
        rows.append(
            (
                node.short_id + (" (head)" if node.is_head else ""),
                node.ip,
                "-" if node.ray_cpus is None else f"{node.ray_cpus:g}",
                "-" if cpu is None else cpu.effective,
                "-" if cpu is None else cpu.lenskit_effective,
                "-" if plan is None else plan.peak_threads,
                node.status,
            )
        )
    header = ("node", "ip", "Ray CPUs", "budget", "LensKit", "peak threads", "answer")
    lines = [f"Cluster `{cluster.address}`, Ray {cluster.ray_version or '?'}.", ""]
    lines += table(header, rows)
    for node in cluster.nodes:
        if node.report is not None and node.report.findings:
            lines += ["", f"**Node {node.label}**", ""]
            lines += [
                f"- {FINDING_MARK[f.severity]} {cell(f.title)} (`{f.id}`): {cell(f.evidence)}"
                for f in node.report.findings
            ]
    return lines


def _observed_details(report: Report) -> list[str]:
    """Totals, the timeline as a sparkline (JSON has the series), one row per process."""
    observed = report.observed
    if observed is None:
        return []
    what = " ".join(observed.command) if observed.command else f"pid {observed.root_pid}"
    status = f", exit status {observed.exit_status}" if observed.command else ""
    lines = [
        f"`{what}`{status}: {observed.seconds:g} s on {observed.cpus} CPUs, "
        f"{observed.cpu_seconds:g} s CPU, {observed.wait_seconds:g} thread-seconds waiting "
        f"({observed.wait_share:.0%}), runnable {observed.avg_runnable:g} on average, "
        f"peak {observed.peak_runnable:g}, more than the CPUs "
        f"{observed.oversubscribed_share:.0%} of the time.",
        "",
        f"Totals: {totals_line(observed)}.",
        "",
        *([f"Plan resolved with {plan_environ_line(observed)}.", ""] if observed.command else []),
        *code_block(sparkline(resample(observed.timeline), observed.cpus).plain),
        "",
    ]
    header = ("pid", "ppid", "level", "name", "threads", "running", "waiting", "plan", "libraries")
    rows = [
        (
            r.pid,
            r.ppid,
            "helper" if r.helper else "wrapper" if r.wrapper else r.level,
            r.name,
            r.threads,
            r.avg_running,
            r.avg_waiting,
            "-" if r.planned_threads is None else r.planned_threads,
            ", ".join(r.libraries),
        )
        for r in observed.processes
    ]
    return [*lines, *table(header, rows)]


def _workers_details(report: Report) -> list[str]:
    workers = report.workers
    if workers is None:
        return []
    lines = [f"{mode_line(workers)}.", ""]
    if workers.mode_source:
        lines += [f"From {workers.mode_source}.", ""]
    if workers.levels:
        header = ("level", "runs in", "workers", "start method", "count from")
        rows = [
            (lv.level, lv.mode, lv.workers, lv.start_method or "-", lv.source)
            for lv in workers.levels
        ]
        lines += [*table(header, rows), ""]
    methods = [(m.part, m.method, m.source) for m in workers.start_methods]
    lines += [*table(("part", "start method", "source"), methods), ""]
    lines += [f"- {note}" for note in workers.notes]
    lines += [f"- {cell(line)}" for line in all_memory_lines(report)]
    lines += [
        f"- script {cell(script_line(check))}"
        for check in workers.scripts
        if check.status != "inline"  # inline code is safe: the JSON still says so
    ]
    lines += [
        f"- worker {p.pid} ({p.kind}, {p.start_method})"
        + (" re-runs the script" if p.reruns_script else "")
        for p in workers.processes
    ]
    lines += [
        f"- {d.who} {d.pid if d.pid is not None else ''} killed by {d.signal}: {d.cause}"
        for d in workers.deaths
    ]
    return lines


DETAILS: dict[Section, Callable[[Report], list[str]]] = {
    Section.CPU: _cpu_details,
    Section.BENCH: _bench_details,
    Section.PLAN: _plan_details,
    Section.ENVIRONMENT: _environment_details,
    Section.CLUSTER: _cluster_details,
    Section.OBSERVED: _observed_details,
    Section.WORKERS: _workers_details,
    Section.COMPARISON: _comparison_details,
}


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def generic(data: Mapping[str, Any], depth: int = 0) -> list[str]:
    """Any section's data: scalars as a table, records as tables, nested objects in turn."""
    scalars = [(k, v) for k, v in data.items() if _is_scalar(v) and v not in (None, "")]
    lines = table(("key", "value"), scalars) if scalars else []
    for key, value in data.items():
        if _is_scalar(value) or value in ([], {}):
            continue
        label = f"**{key}**" if depth == 0 else f"_{key}_"
        if isinstance(value, list) and all(_is_scalar(v) for v in value):
            lines += ["", f"{label}: " + ", ".join(cell(v) for v in value)]
            continue
        lines += ["", label, ""]
        if isinstance(value, dict) and depth < 2:
            lines += generic(value, depth + 1)
        elif isinstance(value, list) and all(
            isinstance(v, dict) and all(_is_scalar(x) for x in v.values()) for v in value
        ):
            columns = list(dict.fromkeys(k for record in value for k in record))
            lines += table(columns, ([r.get(c) for c in columns] for r in value))
        else:
            lines += code_block(json.dumps(value, indent=2, sort_keys=True), "json")
    return lines


def section_ids(report: Report) -> list[Section]:
    """Sections with data, findings or failures: known ones in report order, then others."""
    mentioned = {f.section for f in report.findings} | {e.section for e in report.errors}
    present = [
        Section(name)  # every section of the report is a Section member (ValueError if not)
        for name in Report.model_fields
        if name not in _NOT_SECTIONS and (getattr(report, name) is not None or name in mentioned)
    ]
    known = [name for name in SECTION_TITLES if name in present]
    return known + [name for name in present if name not in SECTION_TITLES]


def _details_block(report: Report, section: Section) -> list[str]:
    status = section_status(report, section)
    detail = DETAILS.get(section)
    if detail is not None:
        body = detail(report)
    else:
        value = getattr(report, section, None)
        body = generic(value.model_dump(mode="json")) if value is not None else []
    failures = [f"- could not collect: {e.message}" for e in report.errors if e.section == section]
    if failures:
        body = [*failures, "", *body]
    return [
        "<details>",
        f"<summary>{STATUS_MARK[status]} {section_title(section)}</summary>",
        "",
        *body,
        "",
        "</details>",
        "",
    ]


def render_markdown(report: Report) -> str:
    """The whole report as GitHub-flavoured Markdown."""
    tool = report.tool
    probe = f"probe {tool.probe_version}" if tool.probe_version else "probe missing"
    lines = [
        "# lenskit doctor report",
        "",
        f"lkdoctor {tool.version} · Python {tool.python} · {tool.platform} · {probe}",
        "",
        f"**{summary_text(report)}**",
        "",
    ]
    sections = section_ids(report)
    rows = [
        (
            STATUS_MARK[section_status(report, s)],
            section_title(s),
            SUMMARIES[s](report) if s in SUMMARIES else "",
        )
        for s in sections
    ]
    lines += [*table(("", "section", "summary"), rows), "", "## Findings", ""]
    lines += render_findings(report.findings)
    lines += ["", "## Details", ""]
    for section in sections:
        lines += _details_block(report, section)
    orphans = [e for e in report.errors if e.section not in sections]
    if orphans:
        lines += ["## Could not collect", ""]
        lines += [f"- **{e.section}**: {e.message}" for e in orphans]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
