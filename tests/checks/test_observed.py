"""Findings on an observed tree, from rows as the sampler writes them."""

from __future__ import annotations

from lkdoctor.checks.observed import check
from lkdoctor.model import Observed, ObservedProcess, ToolInfo
from lkdoctor.report import Report


def row(pid: int, level: int, running: float, waiting: float, **extra: object) -> ObservedProcess:
    values: dict[str, object] = {
        "pid": pid,
        "ppid": 1 if level == 0 else 100,
        "name": "python",
        "level": level,
        "threads": 1,
        "avg_running": running,
        "avg_waiting": waiting,
        "avg_runnable": round(running + waiting, 2),
        "cpu_seconds": 0.0,
        "wait_seconds": 0.0,
        "first_seen": 0.0,
        "last_seen": 2.0,
        **extra,
    }
    return ObservedProcess.model_validate(values)


def report_of(rows: list[ObservedProcess], cpus: int, share: float = 0.0) -> Report:
    running = sum(r.avg_running for r in rows)
    waiting = sum(r.avg_waiting for r in rows)
    observed = Observed(
        root_pid=100,
        seconds=2.0,
        cpus=cpus,
        samples=20,
        interval=0.1,
        avg_runnable=round(running + waiting, 2),
        avg_running=running,
        avg_waiting=waiting,
        cpu_seconds=running * 2,
        wait_seconds=waiting * 2,
        wait_share=waiting / (running + waiting),
        oversubscribed_share=share,
        peak_runnable=running + waiting,
        processes=rows,
    )
    return Report(tool=ToolInfo(version="0", python="3", platform="x"), observed=observed)


def test_a_worker_over_its_share_is_named_with_its_pool() -> None:
    worker = row(
        101,
        1,
        0.9,
        3.2,
        threads=5,
        planned_threads=1,
        libraries=["libgomp", "libtorch_cpu"],
        env={"OMP_NUM_THREADS": "4"},
        thread_names={"python": 5},
    )
    findings = check(report_of([row(100, 0, 0.0, 0.0, planned_threads=2), worker], cpus=2))
    by_id = {f.id: f for f in findings}
    over = by_id["process-over-plan"]
    assert over.title.startswith("pid 101 (python, level 1) keeps 4.1 threads runnable")
    assert "torch intra-op pool (OMP_NUM_THREADS)" in over.evidence
    assert "OMP_NUM_THREADS=4" in over.evidence and over.env == {"OMP_NUM_THREADS": "1"}
    tree = by_id["process-oversubscribed"]
    assert tree.severity == "error"  # 4 runnable on 2 CPUs
    assert tree.evidence.index("pid 101") < tree.evidence.index("nearly idle")


def test_a_tree_within_its_cpus_and_plan_has_no_finding() -> None:
    rows = [row(100, 0, 0.1, 0.0, planned_threads=2), row(101, 1, 0.9, 0.1, planned_threads=1)]
    assert check(report_of(rows, cpus=2)) == []


def test_mostly_oversubscribed_is_flagged_though_the_average_fits() -> None:
    rows = [row(100, 0, 1.5, 0.3)]
    [finding] = check(report_of(rows, cpus=2, share=0.6))
    assert finding.id == "process-oversubscribed" and finding.severity == "warning"


def test_helpers_and_unplanned_levels_are_not_compared() -> None:
    rows = [row(100, 0, 0.1, 0.0), row(102, 1, 1.0, 2.0, helper=True)]
    assert [f.id for f in check(report_of(rows, cpus=4))] == []
