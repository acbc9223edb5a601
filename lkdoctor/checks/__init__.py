"""analyse: turn collected data into findings, one module per section."""

from __future__ import annotations

from collections.abc import Callable

from lkdoctor.model import Finding
from lkdoctor.report import Report

from . import bench as bench_checks
from . import cluster as cluster_checks
from . import cpu as cpu_checks
from . import observed as observed_checks
from . import plan as plan_checks
from . import pools as pools_checks
from . import verification
from . import workers as workers_checks
from . import workers_memory as workers_memory_checks

CHECKS: tuple[Callable[[Report], list[Finding]], ...] = (
    cpu_checks.check,
    plan_checks.check,
    cluster_checks.check,
    pools_checks.check,
    observed_checks.check,
    workers_checks.check,
    workers_memory_checks.check,
    bench_checks.check,
)


def analyse(report: Report) -> None:
    """Append every check's findings to ``report.findings``."""
    for check in CHECKS:
        report.findings.extend(check(report))
    report.findings = verification.quote(report.findings, report)
