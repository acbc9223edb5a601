"""The plan finding carries what was measured of its suggestion (``--verify``, ``--compare``).

The verdict changes the finding, not only its words:

- ``improved``: the finding stays as it is and quotes the gain;
- ``no-gain``: the oversubscription cost nothing measurable for this work here, so an error
  becomes a warning;
- ``worse``: the suggestion ran slower here, so it is no longer recommended as the fix; its
  export lines stay, marked as measured slower;
- ``inconclusive``: nothing changes; the finding says how to get a verdict.
"""

from __future__ import annotations

from lkdoctor.model import Comparison, ComparisonVerdict, Finding, Severity
from lkdoctor.report import Report

#: The findings whose remediation is the suggested plan.
PLAN_FINDINGS = ("plan-oversubscribed",)


def measured(report: Report) -> Comparison | None:
    """The measurement of the suggestion this report carries, if one ran."""
    found = report.bench.verification or report.comparison
    return None if found is None or found.verdict == ComparisonVerdict.NOTHING_TO_VERIFY else found


def _judged(finding: Finding, comparison: Comparison) -> Finding:
    """``finding`` (the plan finding) as the verdict on its suggestion leaves it."""
    said = comparison.reason
    verdict = comparison.verdict
    if verdict == ComparisonVerdict.NO_GAIN:
        return finding.model_copy(
            update={
                "severity": Severity.WARNING,
                "remediation": f"{finding.remediation}; measured: the oversubscription cost "
                f"nothing measurable for this work here ({said}), so it is a warning",
            }
        )
    if verdict == ComparisonVerdict.WORSE:
        return finding.model_copy(
            update={
                "remediation": f"measured: the suggestion was slower here ({said}), so it is "
                "not the fix for this work; the export lines below are the settings measured "
                "slower",
            }
        )
    if verdict == ComparisonVerdict.INCONCLUSIVE:
        return finding.model_copy(
            update={"remediation": f"{finding.remediation}; measured, without a verdict: {said}"}
        )
    return finding.model_copy(update={"remediation": f"{finding.remediation}; measured: {said}"})


def quote(findings: list[Finding], report: Report) -> list[Finding]:
    """``findings`` with the plan finding as the measured verdict leaves it."""
    comparison = measured(report)
    if comparison is None:
        return findings
    return [_judged(f, comparison) if f.id in PLAN_FINDINGS else f for f in findings]
