"""`--pid` beside LensKit 2026: LensKit's own answer is the target's, not the doctor's.

The target is pinned by `taskset -c 0` to one CPU, started in a folder whose lenskit.toml
sets a value, with a variable of its own; the doctor runs with 2 CPUs, elsewhere, without
that variable. LensKit's own settings code (the child the doctor runs) must count the
target's CPU, read the target's folder and the target's environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_cli, script, target_environ

pytestmark = pytest.mark.lenskit2026


@contextlib.contextmanager
def pinned_target(folder: Path, env: dict[str, str]) -> Iterator[int]:
    taskset = shutil.which("taskset")
    assert taskset, "taskset (util-linux) is needed to pin the target"
    proc = subprocess.Popen(
        [taskset, "-c", "0", sys.executable, "-c", "print('ready', flush=True); input()"],
        cwd=folder,
        env=target_environ(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert os.sched_getaffinity(proc.pid) == {0}
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(10)


def doctor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The doctor as JSON, in our folder, with none of our threading variables but ``env``."""
    return run_cli(script("lkdoctor"), "--json", "--no-bench", *args, env=target_environ(env))


def test_lenskit_2026_answers_with_the_targets_cpus_folder_and_environment(
    tmp_path: Path,
) -> None:
    assert len(os.sched_getaffinity(0)) >= 2, "the doctor must have more CPUs than the target"
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "lenskit.toml").write_text("[parallel]\nnum_backend_threads = 3\n")
    # -1: as many batch jobs as CPUs, so the CPU count LensKit used shows twice
    with pinned_target(folder, {"LK_NUM_BATCH_JOBS": "-1"}) as pid:
        result = doctor("--pid", str(pid), "--sample-time", "0.2", env={})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    plan = data["plan"]
    assert plan["dialect"] == "2026"
    assert plan["lenskit_note"] is None
    # LensKit's own code, in a process pinned as the target is: 1 CPU; the toml of the
    # target's folder; the target's variable (-1 → the CPU count)
    assert plan["lenskit_resolved"] == {
        "num_cpus": 1,
        "num_threads": 1,
        "num_backend_threads": 3,
        "num_batch_jobs": 1,
        "use_ray": False,
    }
    # the doctor's own model agrees, so there is no mismatch to report
    model = {name: setting["value"] for name, setting in plan["settings"].items()}
    assert {name: model[name] for name in plan["lenskit_resolved"]} == plan["lenskit_resolved"]
    assert "lenskit-mismatch" not in {f["id"] for f in data["findings"]}
    assert data["cpu"]["effective"] == 1 and data["cpu"]["lenskit_effective"] == 1


def test_the_doctor_alone_answers_with_its_own_two_cpus(tmp_path: Path) -> None:
    """The contrast: without --pid the same child counts the doctor's CPUs."""
    result = doctor(env={"LK_NUM_BATCH_JOBS": "-1"})
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["plan"]["lenskit_resolved"]
    assert resolved["num_cpus"] == len(os.sched_getaffinity(0)) >= 2
    assert resolved["num_batch_jobs"] == resolved["num_cpus"]
