"""The plan finding quotes what was measured of its suggestion (``--verify``, ``--compare``)."""

from __future__ import annotations

from lkdoctor.model import Comparison, ComparisonVerdict, Finding
from lkdoctor.report import Report

#: The findings whose remediation is the suggested plan.
PLAN_FINDINGS = ("plan-oversubscribed",)


def measured(report: Report) -> Comparison | None:
    """The measurement of the suggestion this report carries, if one ran."""
    found = report.bench.verification or report.comparison
    return None if found is None or found.verdict == ComparisonVerdict.NOTHING_TO_VERIFY else found


def quote(findings: list[Finding], report: Report) -> list[Finding]:
    """``findings`` with the measured result added to the plan finding's remediation."""
    comparison = measured(report)
    if comparison is None:
        return findings
    return [
        f.model_copy(update={"remediation": f"{f.remediation}; measured: {comparison.reason}"})
        if f.id in PLAN_FINDINGS
        else f
        for f in findings
    ]
