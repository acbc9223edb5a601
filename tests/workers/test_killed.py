"""Workers and commands a signal ended, named with the signal's cause: a real out-of-memory
kill under a real cgroup v1 memory limit, and a real SIGBUS from a full /dev/shm (a small
tmpfs mounted over it in a private mount namespace)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, script, target_environ

# LensKit 2025 runs here leave or look for orphaned /dev/shm segments: one worker runs them all
pytestmark = pytest.mark.xdist_group("dev-shm")

HERE = Path(__file__).parent
MEMORY_V1 = Path("/sys/fs/cgroup/memory")


def findings(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in report["findings"]}


def test_a_sigbus_from_a_full_dev_shm_is_named_shared_memory(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private mount namespace")
    report = tmp_path / "report.json"
    inner = (
        "mount -t tmpfs -o size=1m tmpfs /dev/shm && exec "
        f"{script('lkdoctor')} --no-bench --json --report {report} -- "
        f"{sys.executable} {HERE / 'shm_fill.py'}"
    )
    done = run_cli("unshare", "-m", "sh", "-c", inner, env=target_environ({"SHM_MIB": "8"}))
    if done.returncode != 135 and "mount" in done.stderr:
        pytest.skip(f"this machine allows no private tmpfs: {done.stderr.strip()}")
    assert done.returncode == 128 + 7  # SIGBUS, as the shell shows it
    assert "Traceback" not in done.stderr
    data = json.loads(report.read_text())
    [death] = data["workers"]["deaths"]
    assert (death["who"], death["signal"], death["cause"]) == (
        "command",
        "SIGBUS",
        "shared-memory-full",
    )
    killed = findings(data)["worker-killed"]
    assert killed["severity"] == "error" and "/dev/shm" in killed["evidence"]


@pytest.fixture
def memory_group() -> Any:
    """A fresh cgroup v1 memory group limited to 150 MiB (and as much swap), removed after."""
    if os.geteuid() != 0 or not (MEMORY_V1 / "memory.limit_in_bytes").exists():
        pytest.skip("needs root and a cgroup v1 memory hierarchy")
    group = MEMORY_V1 / f"lkdoctor-test-oom-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(150 * 2**20))
        swap = group / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(150 * 2**20))
        yield group
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:  # the last process of the group is still leaving it
                time.sleep(0.1)


def test_a_worker_killed_for_memory_is_named_out_of_memory(
    memory_group: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    inner = (
        f"echo $$ > {memory_group / 'cgroup.procs'} && exec "
        f"{script('lkdoctor')} --no-bench --json --report {report} -- "
        f"{sys.executable} {HERE / 'worker_hog.py'}"
    )
    done = run_cli("sh", "-c", inner, env=target_environ({"HOG_MIB": "600"}), timeout=180)
    assert "BrokenProcessPool" in done.stderr  # what the user sees
    data = json.loads(report.read_text())
    assert data["observed"]["oom_kills"] >= 1
    deaths = data["workers"]["deaths"]
    assert deaths and {(d["who"], d["signal"], d["cause"]) for d in deaths} == {
        ("worker", "SIGKILL", "out-of-memory")
    }
    workers = {p["pid"]: p for p in data["workers"]["processes"]}
    assert any(p["kind"] == "spawn-worker" for p in workers.values())  # the worker was seen
    # The dead worker is named by pid when the observer saw it end before the command; the
    # parent often exits within milliseconds of the kill, inside one sampling interval, and
    # then the death is reported without a pid rather than with a guessed one.
    named = [d["pid"] for d in deaths if d["pid"] is not None]
    assert all(workers[pid]["kind"] == "spawn-worker" for pid in named)
    assert findings(data)["worker-killed"]["severity"] == "error"


def test_a_command_killed_by_hand_is_not_called_out_of_memory(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = run_cli(
        script("lkdoctor"), "--no-bench", "--json", "--report", str(report),
        "--", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
        env=target_environ({}),
    )  # fmt: skip
    assert done.returncode == 137
    [death] = json.loads(report.read_text())["workers"]["deaths"]
    assert (death["signal"], death["cause"]) == ("SIGKILL", "killed")


def test_pid_counts_the_kills_in_the_watched_process_memory_cgroup(memory_group: Path) -> None:
    """``--pid`` of a process inside a memory-limited cgroup: a child it starts is killed
    for memory while the doctor watches; the kill counts in ``observed.oom_kills`` (the one
    counter: the watched process's cgroup and its ancestors), not in the doctor's cgroup."""
    hog = f"{sys.executable} -c 'bytearray(600 * 2**20)'"
    # the target starts a hog every second until stopped: whenever the doctor's window
    # opens on this busy machine, kills fall inside it
    inner = f"echo $$ > {memory_group / 'cgroup.procs'} && while true; do {hog}; sleep 1; done"
    target = subprocess.Popen(["sh", "-c", inner], env=target_environ({}), start_new_session=True)
    watch = ["--pid", str(target.pid), "--sample-time", "8"]
    try:
        done = run_cli(
            script("lkdoctor"), "--no-bench", "--json", *watch, env=target_environ({}), timeout=180
        )
    finally:
        os.killpg(target.pid, signal.SIGKILL)  # the shell and the hog of the moment
        target.wait()
    assert done.returncode == 0, done.stderr
    observed = json.loads(done.stdout)["observed"]
    assert observed["oom_kills"] >= 1
    assert "oom_kills" not in (observed["memory"] or {})  # one field, not two
