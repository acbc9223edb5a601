"""Renderers: they only format a finished report."""

from __future__ import annotations

from lkdoctor.model import Report


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
