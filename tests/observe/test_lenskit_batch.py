"""A real LensKit 2025.8.1 batch run with LK_NUM_PROCS=2, observed from its parent's pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import shm_leftovers_removed, target_environ

import lkdoctor
from lkdoctor.report import Report

# LensKit 2025.x's process pool (LK_NUM_PROCS); LensKit 2026 has none.
pytestmark = [pytest.mark.lenskit2025, pytest.mark.alone]

TARGET = Path(__file__).parent.parent / "lenskit_batch_target.py"


@contextlib.contextmanager
def batch_run(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[int, set[int]]]:
    """Start the batch run on 2 CPUs; yield its pid and its workers' once both are scoring."""
    working = tmp_path / "working"
    working.touch()
    with shm_leftovers_removed(), _started(tmp_path, env, working) as started:
        yield started


@contextlib.contextmanager
def _started(tmp_path: Path, env: dict[str, str], working: Path) -> Iterator[tuple[int, set[int]]]:
    proc = subprocess.Popen(
        [sys.executable, str(TARGET)],
        env=target_environ({**env, "TARGET_CPUS": "2", "WORKING_FILE": str(working)}),
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300  # a wait for a condition, not a timed assertion
        while len(workers := set(map(int, working.read_text().split()))) < 2:
            assert proc.poll() is None, "the batch run ended before its workers started"
            if time.monotonic() > deadline:
                pytest.fail("the LensKit workers did not start scoring within 300 s")
            time.sleep(0.2)
        yield proc.pid, workers
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def observe(pid: int) -> Report:
    return lkdoctor.collect(pid=pid, sample_time=2.0)


@pytest.mark.torch
def test_oversubscribed_batch_run_is_flagged_from_the_parent_naming_its_workers(
    tmp_path: Path,
) -> None:
    # Workers get 4 backend threads each (the list's second item): torch's pool of 4.
    env = {"LK_NUM_PROCS": "2", "LK_NUM_THREADS": "4", "LK_NUM_BACKEND_THREADS": "4,4"}
    with batch_run(tmp_path, env) as (pid, workers):
        report = observe(pid)
    observed = report.observed
    assert observed is not None and observed.cpus == 2
    rows = {row.pid: row for row in observed.processes}
    assert workers <= set(rows)
    for worker in workers:
        assert rows[worker].level == 1 and rows[worker].ppid == pid
        assert "libtorch_cpu" in rows[worker].libraries
        assert rows[worker].env["LK_NUM_BACKEND_THREADS"].startswith("4")
    assert sum(rows[w].avg_runnable for w in workers) > 2.2  # more runnable than CPUs
    [finding] = [f for f in report.findings if f.id == "process-oversubscribed"]
    for worker in workers:
        assert f"pid {worker} " in finding.evidence


@pytest.mark.torch
def test_the_same_run_under_a_fitting_plan_is_not_flagged(tmp_path: Path) -> None:
    env = {"LK_NUM_PROCS": "2", "LK_NUM_THREADS": "1", "LK_NUM_BACKEND_THREADS": "1,1"}
    with batch_run(tmp_path, env) as (pid, workers):
        report = observe(pid)
    observed = report.observed
    assert observed is not None and workers <= {row.pid for row in observed.processes}
    assert observed.avg_runnable <= 2.2
    assert not [
        f for f in report.findings if f.id in ("process-oversubscribed", "process-over-plan")
    ]
