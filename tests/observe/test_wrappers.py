"""`lenskit doctor -- WRAPPER … python script.py`: plan levels count from the process that
runs LensKit (the shallowest with LensKit's extension mapped), not from the wrapper.

The script (tests/lenskit_pool_target.py) imports LensKit, sets up its pools, trains item
k-NN on LensKit's Rayon pool and starts one plain Python child; it prints its own pid and
its child's. With either LensKit release installed.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, script, target_environ
from rich.console import Console

from lkdoctor.render.text import render_text
from lkdoctor.report import Report

TARGET = Path(__file__).parent.parent / "lenskit_pool_target.py"
PY = sys.executable
#: The doctor's own settings, nothing inherited: level 0 of the plan is 2 threads × 3
#: backend threads = 6 in both LensKit lines, whatever the machine's CPUs.
SETTINGS = {"LK_NUM_THREADS": "2", "LK_NUM_BACKEND_THREADS": "3"}
LEVEL_0_THREADS = 6


def observe(tmp_path: Path, *command: str) -> tuple[dict[str, Any], int, int]:
    """The report of the run, the pid that ran LensKit and its child's."""
    report = tmp_path / "report.json"
    result = run_cli(
        script("lenskit"),
        *("doctor", "--no-bench", "--json", "--report", str(report), "--", *command),
        env=target_environ(SETTINGS),
    )
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("lenskit ")]
    _, lenskit, child = line.split()
    return json.loads(report.read_text()), int(lenskit), int(child)


def rows_by_pid(data: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {row["pid"]: row for row in data["observed"]["processes"]}


def test_bash_c_is_a_wrapper_and_levels_count_from_the_lenskit_process(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash
    # A second command after the script keeps bash alive as its parent (a lone command
    # would be exec'd by bash and leave no wrapper to find).
    data, lenskit, child = observe(tmp_path, bash, "-c", f"{PY} {TARGET}; echo done")
    observed = data["observed"]
    rows = rows_by_pid(data)
    root = rows[observed["root_pid"]]
    assert root["name"] == "bash" and root["pid"] != lenskit
    assert root["wrapper"] is True and root["planned_threads"] is None
    assert observed["lenskit_pid"] == lenskit
    runs_lenskit = rows[lenskit]
    assert runs_lenskit["ppid"] == root["pid"]
    assert "lenskit._accel" in runs_lenskit["libraries"]
    assert (runs_lenskit["level"], runs_lenskit["wrapper"]) == (0, False)
    assert runs_lenskit["planned_threads"] == LEVEL_0_THREADS
    assert observed["plan_environ_pid"] == lenskit  # bash passed the doctor's on unchanged
    # its child is one level below it, not two below the wrapper
    assert rows[child]["ppid"] == lenskit
    assert (rows[child]["level"], rows[child]["wrapper"]) == (1, False)
    assert observed["exit_status"] == 0


@pytest.fixture(scope="module")
def env_wrapped(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int, int]:
    """One run under `env LK_NUM_THREADS=1`, shared by the tests that read it (each run of
    the LensKit target under the doctor costs tens of seconds on a busy machine)."""
    env = shutil.which("env")
    assert env
    folder = tmp_path_factory.mktemp("env-wrapped")
    return observe(folder, env, "LK_NUM_THREADS=1", PY, str(TARGET))


def test_env_execs_the_program_so_the_root_runs_lenskit(
    env_wrapped: tuple[dict[str, Any], int, int],
) -> None:
    data, lenskit, child = env_wrapped
    observed = data["observed"]
    rows = rows_by_pid(data)
    # env replaced itself with Python: one process, seen first as env, later as Python
    assert observed["root_pid"] == lenskit == observed["lenskit_pid"]
    root = rows[lenskit]
    assert root["name"].startswith("python") and "lenskit._accel" in root["libraries"]
    assert root["env"]["LK_NUM_THREADS"] == "1"  # as env set it for the program
    assert (root["level"], root["wrapper"]) == (0, False)
    assert not [row for row in rows.values() if row["wrapper"]]
    # the plan is LensKit's, resolved with the variables env gave it: 1 thread × 3 backend
    # threads, not the doctor's 2 × 3
    assert observed["plan_environ_pid"] == lenskit
    assert data["plan"]["levels"][0]["threads"] == 1
    assert root["planned_threads"] == 3
    assert (rows[child]["ppid"], rows[child]["level"]) == (lenskit, 1)


def test_the_text_report_says_whose_environment_the_plan_came_from(
    env_wrapped: tuple[dict[str, Any], int, int],
) -> None:
    data, lenskit, _ = env_wrapped
    console = Console(width=200, record=True, color_system=None)
    render_text(Report.model_validate(data), console)
    shown = console.export_text()
    assert f"plan from    the variables of pid {lenskit}, the process that ran LensKit" in shown
