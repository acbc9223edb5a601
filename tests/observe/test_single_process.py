"""`--pid X --single-process`: the one sampler, on the root alone.

The same real tree as test_tree.py: the root is idle, its workers each keep 2 threads busy.
Watched alone, the root is the only process of the report, with the facts the tree path
gives for it; its children, and their load, are not in it.
"""

from __future__ import annotations

import json
import sys

import jsonschema
from helpers import expected_threading_env, run_cli, script
from process_trees import Tree

import lkdoctor
import lkdoctor.model
from lkdoctor.model import ObservedProcess, Pools
from lkdoctor.report import report_json_schema

#: Facts of a process that do not depend on when it was sampled.
STATIC_FACTS = ("pid", "ppid", "name", "command", "level", "helper", "wrapper", "threads")


def static_facts(row: ObservedProcess | dict[str, object]) -> dict[str, object]:
    data = row.model_dump(mode="json") if isinstance(row, ObservedProcess) else row
    return {key: data[key] for key in (*STATIC_FACTS, "env", "libraries")}


def test_single_process_reports_the_root_alone_with_the_tree_paths_facts(tree: Tree) -> None:
    result = run_cli(
        script("lkdoctor"),
        *("--pid", str(tree.pid), "--single-process", "--json", "--no-bench"),
        *("--sample-time", "0.5"),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    jsonschema.validate(data, report_json_schema())
    alone = data["observed"]
    assert alone["tree"] is False and alone["root_pid"] == tree.pid
    [row] = alone["processes"]  # no children, although the root has five
    assert alone["peak_processes"] == 1
    assert alone["lenskit_pid"] == tree.pid  # no LensKit in the tree: the root anchors levels
    assert not [f for f in data["findings"] if f["id"] == "process-oversubscribed"]

    whole = lkdoctor.collect(pid=tree.pid, sample_time=0.5).observed
    assert whole is not None and whole.tree is True
    [tree_row] = [r for r in whole.processes if r.pid == tree.pid]
    assert static_facts(row) == static_facts(tree_row)
    assert row["level"] == 0 and row["threads"] == 1 and row["ppid"] == tree_row.ppid
    assert row["env"] == expected_threading_env({"LK_NUM_PROCS": "2", "MKL_DYNAMIC": "FALSE"})
    # the workers' busy threads count in the tree, not in the root watched alone
    assert whole.avg_runnable > 1.0 and len(whole.processes) >= 6
    assert alone["avg_runnable"] < 0.5 and row["avg_runnable"] < 0.5
    assert alone["avg_runnable"] == row["avg_runnable"]  # the totals are its one row


def test_single_process_samples_a_busy_process_as_the_tree_does(tree: Tree) -> None:
    """A busy worker watched alone: its own threads' load, as the tree path counts it."""
    worker = tree.pids["workers"][0]
    alone = lkdoctor.collect(pid=worker, sample_time=0.5, tree=False).observed
    assert alone is not None and [row.pid for row in alone.processes] == [worker]
    [row] = alone.processes
    assert (row.level, row.threads, row.ppid) == (0, 3, tree.pid)  # main + 2 busy threads
    assert row.avg_runnable > 1.0  # 2 busy threads on 1 CPU: always runnable
    assert row.avg_waiting > 0.5


def test_one_sample_type_for_pid_and_command(tree: Tree) -> None:
    """Issue 18.3: --pid (tree or alone) and -- COMMAND report through one type, and a busy
    process is flagged once, by the one check, not by a second --pid stack."""
    assert "process" not in Pools.model_fields
    assert not hasattr(lkdoctor.model, "ProcessSample")
    worker = tree.pids["workers"][0]
    args = ("--json", "--no-bench", "--sample-time", "0.5")
    alone = run_cli(script("lkdoctor"), "--pid", str(worker), "--single-process", *args)
    assert alone.returncode == 0, alone.stderr
    pid_data = json.loads(alone.stdout)
    flagged = [f for f in pid_data["findings"] if f["id"] == "process-oversubscribed"]
    assert [f["section"] for f in flagged] == ["observed"]  # 2 busy threads on its 1 CPU
    assert pid_data["pools"] is None
    command = run_cli(script("lkdoctor"), *args, "--", sys.executable, "-c", "pass")
    assert command.returncode == 0, command.stderr
    command_data = json.loads(command.stderr)
    [pid_row] = pid_data["observed"]["processes"]
    [command_row] = command_data["observed"]["processes"]
    assert set(pid_row) == set(command_row) == set(ObservedProcess.model_fields)
    assert isinstance(pid_row["libraries"], list) and isinstance(command_row["libraries"], list)
