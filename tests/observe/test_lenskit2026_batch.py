"""A real LensKit 2026.4.0 batch run under `-- COMMAND`: its thread pool of LK_NUM_BATCH_JOBS
jobs (a GIL build), each job driving torch's backend threads, observed against the plan.

The plan's demand is judged here by arithmetic from LensKit's own resolved values: in its
thread pool, ``j`` jobs each drive a backend team of ``b`` threads at once (with ``t`` = 1
Rayon thread nothing else adds to it), so ``j × b`` threads want a CPU while it scores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import script, target_environ

pytestmark = [pytest.mark.lenskit2026, pytest.mark.torch, pytest.mark.alone]

TARGET = Path(__file__).parent.parent / "lenskit_batch_target.py"
#: Seconds left out at each end of the scoring phase: the jobs start and stop there.
EDGE = 0.3
MARGIN = 1.1  # schedstat charges a wait to the interval it ends in
#: The run is pinned to two of this test's own CPUs: the plans below are sized for 2.
CPUS = 2


def pinned_cpus() -> set[int]:
    """The first ``CPUS`` CPUs this test may use."""
    mine = sorted(os.sched_getaffinity(0))
    assert len(mine) >= CPUS, f"these tests need {CPUS} CPUs, this process may use {mine}"
    return set(mine[:CPUS])


def batch_run(tmp_path: Path, threads: int, backend: int, jobs: int) -> dict[str, Any]:
    """The doctor's report of one batch run (several seconds of scoring) with these settings."""
    env = {
        "LK_NUM_THREADS": str(threads),
        "LK_NUM_BACKEND_THREADS": str(backend),
        "LK_NUM_BATCH_JOBS": str(jobs),
        "BATCH_ROUNDS": "1",
        "BATCH_REPEAT": "4",  # seconds of scoring: several of the (adaptive, up to 1 s) intervals
        "PHASE_FILE": str(tmp_path / "phases"),
    }
    report = tmp_path / f"report-{threads}-{backend}-{jobs}.json"
    doctor = [script("lkdoctor"), "--no-bench", "--json", "--report", str(report)]
    pinned = pinned_cpus()
    result = subprocess.run(
        [*doctor, "--", sys.executable, str(TARGET)],
        env=target_environ(env),
        # the doctor and the run on exactly 2 CPUs, whatever the machine has
        preexec_fn=lambda: os.sched_setaffinity(0, pinned),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(report.read_text())
    phases = [line.split() for line in (tmp_path / "phases").read_text().splitlines()]
    data["scoring"] = (
        min(float(at) for name, at in phases if name == "scoring"),
        max(float(at) for name, at in phases if name == "done"),
    )
    (tmp_path / "phases").unlink()
    return data


def lenskit_row(data: dict[str, Any]) -> dict[str, Any]:
    observed = data["observed"]
    [row] = [r for r in observed["processes"] if r["pid"] == observed["lenskit_pid"]]
    return row


def scoring_load(data: dict[str, Any]) -> float:
    """Runnable threads on average while the jobs score: the timeline's intervals inside the
    phase the target reported (its ages count from its start, as the timeline's do)."""
    start, end = data["scoring"]
    inside = [
        point
        for point in data["observed"]["timeline"]
        if point["at"] - point["seconds"] >= start + EDGE and point["at"] <= end - EDGE
    ]
    assert len(inside) >= 3, (data["scoring"], data["observed"]["timeline"])
    return sum(p["runnable"] * p["seconds"] for p in inside) / sum(p["seconds"] for p in inside)


def planned_thread_pool_demand(resolved: dict[str, Any]) -> int:
    """j jobs each driving b backend threads (t = 1 Rayon thread is the job's own)."""
    assert resolved["num_threads"] == 1 and not resolved["use_ray"]
    return int(resolved["num_batch_jobs"] * resolved["num_backend_threads"])


def test_an_oversubscribed_thread_pool_run_keeps_its_planned_demand_runnable(
    tmp_path: Path,
) -> None:
    data = batch_run(tmp_path, threads=1, backend=2, jobs=2)
    cpus = data["observed"]["cpus"]
    assert cpus == CPUS
    resolved = data["plan"]["lenskit_resolved"]
    assert (resolved["num_batch_jobs"], resolved["num_backend_threads"]) == (2, 2)
    demand = planned_thread_pool_demand(resolved)  # 4 on 2 CPUs
    assert data["plan"]["levels"][0]["demand"] == demand
    row = lenskit_row(data)
    assert row["pid"] == data["observed"]["root_pid"] and row["level"] == 0
    assert "lenskit._accel" in row["libraries"] and "libtorch_cpu" in row["libraries"]
    assert row["planned_threads"] == demand
    # the main thread, 2 job threads and one more OpenMP thread in each job's team
    assert row["threads"] >= 1 + 2 + 2
    load = scoring_load(data)
    assert cpus * MARGIN < load <= demand * MARGIN  # more than the CPUs, as planned
    ids = {f["id"] for f in data["findings"]}
    assert "plan-oversubscribed" in ids  # the plan said so before the run
    assert "process-over-plan" not in ids  # and the run kept to the plan


def test_a_fitting_thread_pool_run_stays_within_its_plan(tmp_path: Path) -> None:
    data = batch_run(tmp_path, threads=1, backend=1, jobs=2)
    cpus = data["observed"]["cpus"]
    resolved = data["plan"]["lenskit_resolved"]
    demand = planned_thread_pool_demand(resolved)  # 2 on 2 CPUs
    assert demand == cpus == CPUS
    row = lenskit_row(data)
    assert row["planned_threads"] == demand and row["threads"] >= 1 + 2
    load = scoring_load(data)
    assert load <= demand * MARGIN  # the two jobs, no more
    ids = {f["id"] for f in data["findings"]}
    assert not ids & {"plan-oversubscribed", "process-oversubscribed", "process-over-plan"}
