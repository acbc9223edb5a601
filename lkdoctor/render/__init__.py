"""Renderers: they only format a finished report.

The vocabulary every format shares lives here, once: the sections' titles in report
order, the marks of findings and sections, a section's status and the export lines.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from typing import Literal

from lkdoctor.model import Finding, Section, Severity, worst_severity
from lkdoctor.report import Report

#: Every section of a report in report order, with its heading; a section not listed
#: here is shown after these, under its own name.
SECTION_TITLES: dict[str, str] = {
    Section.CPU: "CPU budget",
    Section.PLAN: "Thread plan",
    Section.POOLS: "Live pools",
    Section.OBSERVED: "Observed",
    Section.WORKERS: "Batch workers",
    Section.COMPARISON: "Compared",
    Section.BENCH: "Measured",
    Section.ENVIRONMENT: "Environment",
    Section.CLUSTER: "Ray cluster",
}

Status = Literal["ok", "warning", "error"]

#: The symbols the reports mark findings and sections with.
FINDING_MARK = {Severity.INFO: "i", Severity.WARNING: "!", Severity.ERROR: "✗"}
STATUS_MARK: dict[Status, str] = {"ok": "✓", "warning": "!", "error": "✗"}


def section_title(section: str) -> str:
    return SECTION_TITLES.get(section, section.capitalize())


def status(findings: Iterable[Finding], failed: bool = False) -> Status:
    """ok / warning / error: the worst of ``findings`` (info counts as ok), error if ``failed``."""
    worst = worst_severity(findings)
    if failed or worst == Severity.ERROR:
        return "error"
    return "warning" if worst == Severity.WARNING else "ok"


def section_status(report: Report, section: str) -> Status:
    """The status of one section: its worst finding, error if it could not be collected."""
    findings = [f for f in report.findings if f.section == section]
    return status(findings, failed=any(e.section == section for e in report.errors))


def export_lines(env: Mapping[str, str]) -> list[str]:
    """Ready-to-paste ``export NAME=value`` lines (values shell-quoted)."""
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def summary_text(report: Report) -> str:
    """The report's last line, in every format: "2 warnings, 1 error" or "No issues found"."""
    counts = {s: sum(f.severity == s for f in report.findings) for s in ("warning", "error")}
    parts = [f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n]
    if report.errors:
        n = len(report.errors)
        parts.append(f"{n} section{'s' if n != 1 else ''} could not be collected")
    return ", ".join(parts) if parts else "No issues found"
