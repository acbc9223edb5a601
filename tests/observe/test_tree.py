"""--pid follows a real process tree: workers with known busy threads, a grandchild,
a child that exits and a worker born inside the window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jsonschema
import pytest
from helpers import expected_threading_env, run_cli, script
from process_trees import Tree

from lkdoctor.observe.sampler import SHORTEST_SPAN, TreeSampler
from lkdoctor.report import report_json_schema


def test_the_tree_with_workers_grandchild_exits_and_births(tree: Tree) -> None:
    sampler = TreeSampler(tree.pid, cpus=1)
    answers = {}

    def drive(current: TreeSampler) -> None:
        # Each change happens between two samples and is complete when the target answers.
        if current.samples == 2:
            answers["release"] = tree.command("release")
        elif current.samples == 4:
            answers["spawn"] = tree.command("spawn")

    sampler.run(lambda: sampler.samples >= 7, on_sample=drive)
    collected = sampler.result()
    observed = collected.value
    assert observed is not None, collected.errors
    assert collected.errors == []
    rows = {row.pid: row for row in observed.processes}
    workers = tree.pids["workers"]
    born = int(answers["spawn"].split()[1])
    assert answers["release"] == "released"

    assert rows[tree.pid].level == 0 and rows[tree.pid].threads == 1
    for pid in [*workers, born]:
        worker = rows[pid]
        assert (worker.level, worker.ppid, worker.threads) == (1, tree.pid, 3)  # main + 2 busy
        assert worker.env == expected_threading_env({"LK_NUM_PROCS": "2", "MKL_DYNAMIC": "FALSE"})
    for pid in workers:  # 2 busy threads each, on one CPU: always runnable, mostly waiting
        assert rows[pid].avg_runnable > 1.0
        assert rows[pid].avg_waiting > rows[pid].avg_running
    short = rows[tree.pids["short"]]
    assert short.exited and short.last_seen < observed.seconds
    assert rows[born].first_seen > 0 and not rows[born].exited
    [grandchild] = [row for row in observed.processes if row.ppid == tree.pids["middle"]]
    assert grandchild.level == 2 and grandchild.threads == 2
    assert grandchild.avg_runnable > 0.3
    assert rows[tree.pids["middle"]].avg_runnable < 0.1
    # The tree's totals are the sum of its rows.
    total = sum(row.avg_runnable for row in observed.processes)
    assert abs(total - observed.avg_runnable) < 0.05
    assert observed.peak_processes == 6  # root, 2 workers, middle, grandchild, short
    assert observed.oversubscribed_share > 0.5
    # One point per interval up to the window's end; the final look, just after the last
    # one, is merged into it rather than shown as a spike over a sliver of time.
    assert observed.timeline[-1].at == observed.seconds
    assert len(observed.timeline) in (observed.samples - 1, observed.samples - 2)
    assert min(point.seconds for point in observed.timeline) >= SHORTEST_SPAN
    assert observed.peak_runnable < 20  # the tree has 13 threads


@pytest.mark.lenskit2025  # the plan of LK_NUM_PROCS=2 is LensKit 2025.x's
def test_pid_reports_the_tree_and_blames_its_workers(tree: Tree) -> None:
    result = run_cli(
        script("lkdoctor"), "--pid", str(tree.pid), "--json", "--no-bench", "--sample-time", "1"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    jsonschema.validate(data, report_json_schema())
    observed = data["observed"]
    assert observed["cpus"] == 1 and data["cpu"]["effective"] == 1  # the tree's affinity
    for key in ("seconds", "avg_runnable", "avg_running", "avg_waiting", "wait_share"):
        assert isinstance(observed[key], float | int)
    assert observed["avg_runnable"] > 2
    pids = {row["pid"] for row in observed["processes"]}
    assert {tree.pid, *tree.pids["workers"], tree.pids["middle"]} <= pids
    [finding] = [f for f in data["findings"] if f["id"] == "process-oversubscribed"]
    assert finding["section"] == "observed"
    for worker in tree.pids["workers"]:
        assert f"pid {worker} python" in finding["evidence"]
    # The plan of its environment (LK_NUM_PROCS=2, 1 CPU) gives each worker 1 thread:
    # the workers, each keeping 2 busy, are over their share.
    over = [f for f in data["findings"] if f["id"] == "process-over-plan"]
    assert {int(f["title"].split()[1]) for f in over} >= set(tree.pids["workers"])


def test_text_report_has_one_row_per_process(tree: Tree) -> None:
    result = run_cli(
        script("lkdoctor"), "--pid", str(tree.pid), "--no-bench", "--sample-time", "0.5"
    )
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("Observed", 1)[1]
    for pid in [tree.pid, *tree.pids["workers"], tree.pids["middle"]]:
        assert f"\n{pid} " in section or f" {pid} " in section
    assert "timeline" in section and "process-oversubscribed" in section


def test_another_users_tree_is_errors_and_still_counted(tree: Tree) -> None:
    """As nobody, environ and maps of root's processes are closed; schedstat is not."""
    assert os.geteuid() == 0, "the suite runs as root, which can become another user"
    code = textwrap.dedent(
        f"""
        import os, lkdoctor
        lkdoctor.collect(pid=os.getpid(), sample_time=0.05)  # load every module while root
        os.setgid(65534)
        os.setuid(65534)
        # 2 s: on a loaded machine the first look at the tree (the baseline) can take
        # most of a shorter window, leaving no interval to measure the workers in
        print(lkdoctor.collect(pid={tree.pid}, sample_time=2.0).model_dump_json())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    messages = [e["message"] for e in data["errors"] if e["section"] == "observed"]
    for pid in tree.pids["workers"]:
        assert any(f"pid {pid} " in m and "PermissionError" in m for m in messages), messages
    rows = {row["pid"]: row for row in data["observed"]["processes"]}
    for pid in tree.pids["workers"]:
        assert rows[pid]["threads"] == 3 and rows[pid]["env"] == {}
        assert rows[pid]["avg_runnable"] > 1.0  # still measured from schedstat
    assert "Traceback" not in result.stderr
