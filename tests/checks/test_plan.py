"""Findings about the thread plan."""

from __future__ import annotations

from lkdoctor.checks.plan import check
from lkdoctor.model import Finding, ToolInfo
from lkdoctor.plan.lenskit2025.resolve import collect_plan
from lkdoctor.report import Report


def report_for(
    cpus: int, effective: int, env: dict[str, str], *, ask_lenskit: bool = False
) -> Report:
    report = Report(tool=ToolInfo(version="test", python="3", platform="test"))
    report.plan = collect_plan(cpus, effective, env, ask_lenskit=ask_lenskit)
    report.findings.extend(check(report))
    return report


def ids(report: Report) -> list[str]:
    return [f.id for f in report.findings]


def only(report: Report, finding_id: str) -> Finding:
    found = [f for f in report.findings if f.id == finding_id]
    assert len(found) == 1, ids(report)
    return found[0]


def test_a_plan_that_fits_has_no_findings() -> None:
    assert ids(report_for(64, 64, {})) == []


def test_env_invalid_names_variable_value_and_accepted_form() -> None:
    report = report_for(4, 4, {"LK_NUM_BACKEND_THREADS": "4,,2"})
    finding = only(report, "env-invalid")
    assert finding.section == "plan"
    assert "LK_NUM_BACKEND_THREADS" in finding.title
    assert "'4,,2'" in finding.evidence
    assert "comma-separated list of positive integers" in finding.remediation


def test_oversubscription_is_a_warning_above_one_and_an_error_from_two() -> None:
    # C=2: T0=3 gives level 0 demand 3 → 1.5 on 2 CPUs; T0=4 gives 4 → 2.0.
    warning = only(
        report_for(2, 2, {"LK_NUM_THREADS": "3", "LK_NUM_PROCS": "1"}), "plan-oversubscribed"
    )
    assert warning.severity == "warning"
    error = only(
        report_for(2, 2, {"LK_NUM_THREADS": "4", "LK_NUM_PROCS": "1"}), "plan-oversubscribed"
    )
    assert error.severity == "error"
    assert "plan-oversubscribed" not in ids(
        report_for(2, 2, {"LK_NUM_THREADS": "2", "LK_NUM_PROCS": "1"})
    )


def test_oversubscription_names_the_overflowing_level() -> None:
    finding = only(report_for(64, 16, {}), "plan-oversubscribed")
    # level 0 demands 32 and level 1 demands 64: both overflow 16 CPUs, level 1 is worst.
    assert finding.title.startswith("Level 1 ")
    assert "level 0: 1 process × 8 threads × 4 backend threads = 32" in finding.evidence
    assert "level 1: 4 processes × 4 threads × 4 backend threads = 64" in finding.evidence
    assert finding.env == report_for(64, 16, {}).plan.suggested_env  # type: ignore[union-attr]


def test_only_levels_that_overflow_are_named() -> None:
    finding = only(report_for(64, 40, {}), "plan-oversubscribed")
    assert "level 1:" in finding.evidence and "level 0:" not in finding.evidence


def test_deprecated_child_threads_gives_the_list_form() -> None:
    finding = only(report_for(64, 64, {"LK_NUM_CHILD_THREADS": "2"}), "env-deprecated")
    assert finding.env == {"LK_NUM_BACKEND_THREADS": "4,2"}
    assert "LK_NUM_BACKEND_THREADS=4,2" in finding.remediation
    assert "env-invalid" not in ids(report_for(64, 64, {"LK_NUM_CHILD_THREADS": "2"}))


def test_child_threads_beside_a_backend_list_is_flagged_as_without_effect() -> None:
    env = {"LK_NUM_CHILD_THREADS": "2", "LK_NUM_BACKEND_THREADS": "4,1"}
    finding = only(report_for(64, 64, env), "env-deprecated")
    assert "no effect" in finding.evidence


def test_invalid_child_threads_is_invalid_not_deprecated() -> None:
    report = report_for(4, 4, {"LK_NUM_CHILD_THREADS": "2,1"})
    assert ids(report) == ["env-invalid"]


def test_env_conflict_when_a_backend_variable_raises_the_demand() -> None:
    report = report_for(64, 64, {"OPENBLAS_NUM_THREADS": "16"})
    finding = only(report, "env-conflict")
    assert finding.severity == "warning"
    assert "OPENBLAS_NUM_THREADS=16" in finding.title
    assert "4 at level 0, 4 at level 1" in finding.title
    assert "skips its BLAS limit" in finding.evidence
    assert finding.env == {"OPENBLAS_NUM_THREADS": "4"}
    assert "plan-oversubscribed" in ids(report)


def test_env_conflict_is_informational_when_blas_gets_fewer_threads() -> None:
    finding = only(report_for(64, 64, {"OPENBLAS_NUM_THREADS": "1"}), "env-conflict")
    assert finding.severity == "info"
    assert finding.env == {}


def test_rayon_variable_is_an_informational_conflict() -> None:
    finding = only(report_for(8, 8, {"RAYON_NUM_THREADS": "3"}), "env-conflict")
    assert finding.severity == "info" and "explicit threads" in finding.title


def test_matching_backend_variable_is_no_conflict() -> None:
    # C=8: B0 = 1 and B1 = 1, so OMP_NUM_THREADS=1 changes nothing.
    assert ids(report_for(8, 8, {"OMP_NUM_THREADS": "1"})) == []


def test_unsupported_lenskit_is_an_info_finding() -> None:
    report = Report(tool=ToolInfo(version="test", python="3", platform="test"))
    report.plan = collect_plan(4, 4, {}, ask_lenskit=False)
    report.plan.lenskit_note = "LensKit 2026.1 does not have the 2025.3 – 2025.8 API"
    finding = only(
        Report(tool=report.tool, plan=report.plan, findings=check(report)), "lenskit-unsupported"
    )
    assert finding.severity == "info" and "2026.1" in finding.evidence


def test_an_empty_backend_value_is_shown_quoted() -> None:
    finding = only(report_for(8, 8, {"OPENBLAS_NUM_THREADS": ""}), "env-conflict")
    assert finding.title.startswith("OPENBLAS_NUM_THREADS='' conflicts")
    assert "it is empty" in finding.evidence and finding.severity == "warning"
