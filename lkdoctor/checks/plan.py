"""Findings about the thread plan, as the plan's own LensKit line gives them
(`LensKitLine.findings`): what every plan is checked for (:mod:`lkdoctor.plan.checks`) and
the line's own (``plan/<line>/checks.py``), in the line's order."""

from __future__ import annotations

from lkdoctor.model import Finding
from lkdoctor.plan.lines import line_of
from lkdoctor.report import Report


def check(report: Report) -> list[Finding]:
    plan = report.plan
    if plan is None:
        return []
    return line_of(plan).findings(plan)
